// engine/failure_interpretation: the messages and causes for limits that changed.
#include "engine/failure_interpretation.hpp"

#include <gtest/gtest.h>

namespace isolator::detail {
namespace {

const Invocation call{"/plugins/libraise.so", "raise_now", {}, {}};

TEST(FailureInterpretation, ChangedLimitsNameEachFileTheValueSetAndTheValueFound) {
  const std::vector<ChangedLimit> changes{
      {"/cg/child-1/memory.memsw.limit_in_bytes", "67108864", "9223372036854771712"},
      {"/cg/child-1/memory.limit_in_bytes", "67108864", "9223372036854771712"}};
  const Failure failure = limits_changed_failure(call, changes, 42);
  EXPECT_EQ(failure.kind, FailureKind::limits_changed);
  EXPECT_EQ(failure.message,
            "the limits of pihost (pid 42) changed during the call to 'raise_now' of /plugins/libraise.so: "
            "/cg/child-1/memory.memsw.limit_in_bytes was set to '67108864' and now reads "
            "'9223372036854771712'; /cg/child-1/memory.limit_in_bytes was set to '67108864' and now reads "
            "'9223372036854771712'; it was killed and will be replaced by a child with the limits set again");
  EXPECT_FALSE(failure.exit_code);
  EXPECT_FALSE(failure.signal);
}

TEST(FailureInterpretation, AKillForChangedLimitsIsTheExitCauseWhateverTheSignal) {
  const ExitStatus sigkill{std::nullopt, 9};
  EXPECT_EQ(exit_cause(ExitCause::limits_changed, false, false, sigkill), ExitCause::limits_changed);
  EXPECT_EQ(exit_cause(ExitCause::limits_changed, true, true, sigkill), ExitCause::limits_changed)
      << "the recorded cause stands over a stop and the OOM killer";
}

}  // namespace
}  // namespace isolator::detail
