// The pool's scheduling rules, without a process: which child takes the next call, when a
// child is recycled, and how many threads a pool runs.
#include "engine/pool_schedule.hpp"

#include <gtest/gtest.h>

namespace isolator::detail {
namespace {

using namespace std::chrono_literals;

PoolChild child(State state, bool busy = false) {
  PoolChild c;
  c.state = state;
  c.busy = busy;
  return c;
}

TEST(PoolSchedule, AnIdleRunningChildTakesTheCallBeforeOneThatIsRestarting) {
  const std::vector<PoolChild> children{child(State::no_child), child(State::ready, true),
                                        child(State::ready)};
  EXPECT_EQ(choose_child(children), 2u);
}

TEST(PoolSchedule, WithNoRunningChildFreeACallWaitsOnOneThatIsStartingOrStopped) {
  const std::vector<PoolChild> children{child(State::ready, true), child(State::failed),
                                        child(State::no_child)};
  EXPECT_EQ(choose_child(children), 2u);
}

TEST(PoolSchedule, BusyFailedAndStoppingChildrenTakeNoCall) {
  const std::vector<PoolChild> children{child(State::ready, true), child(State::failed),
                                        child(State::shutting_down), child(State::shut_down)};
  EXPECT_EQ(choose_child(children), std::nullopt);
}

TEST(PoolSchedule, TheFirstFreeChildInOrderIsChosen) {
  const std::vector<PoolChild> children{child(State::ready), child(State::ready)};
  EXPECT_EQ(choose_child(children), 0u);
}

TEST(PoolSchedule, AllFailedOnlyWhenEveryChildIs) {
  EXPECT_TRUE(all_failed({child(State::failed), child(State::failed)}));
  EXPECT_FALSE(all_failed({child(State::failed), child(State::no_child)}));
}

TEST(PoolSchedule, AChildIsRecycledAfterItsNumberOfCalls) {
  PoolOptions options;
  options.max_calls_per_child = 3;
  PoolChild c = child(State::ready);
  c.calls = 2;
  EXPECT_EQ(after_call(c, options, std::nullopt), AfterCall::keep);
  c.calls = 3;
  EXPECT_EQ(after_call(c, options, std::nullopt), AfterCall::recycle);
  options.max_calls_per_child.reset();
  EXPECT_EQ(after_call(c, options, std::nullopt), AfterCall::keep) << "no rule, no recycling";
}

TEST(PoolSchedule, AChildAboveTheResidentSizeThresholdIsRecycled) {
  PoolOptions options;
  options.recycle_above_rss_bytes = 100 << 20;
  const PoolChild c = child(State::ready);
  EXPECT_EQ(after_call(c, options, 100 << 20), AfterCall::keep) << "at the threshold, not above";
  EXPECT_EQ(after_call(c, options, (100 << 20) + 1), AfterCall::recycle);
  EXPECT_EQ(after_call(c, options, std::nullopt), AfterCall::keep) << "a size that cannot be read";
}

TEST(PoolSchedule, ARunningChildOlderThanTheMaximumAgeIsTooOld) {
  PoolOptions options;
  const auto now = std::chrono::steady_clock::now();
  PoolChild c = child(State::ready);
  c.born = now - 10s;
  EXPECT_FALSE(too_old(c, options, now)) << "no maximum age";
  options.max_age = 5s;
  EXPECT_TRUE(too_old(c, options, now));
  c.born = now - 1s;
  EXPECT_FALSE(too_old(c, options, now));
  c.born = now - 10s;
  c.state = State::no_child;
  EXPECT_FALSE(too_old(c, options, now)) << "a child that is not running is starting anew anyway";
}

TEST(PoolSchedule, APoolRunsAsManyThreadsAsCpusButNoMoreThanChildren) {
  PoolOptions options;
  options.size = 4;
  EXPECT_EQ(pool_threads(options, 2), 2u);
  EXPECT_EQ(pool_threads(options, 16), 4u);
  EXPECT_EQ(pool_threads(options, 0), 1u) << "an unknown CPU count still gets a thread";
  options.threads = 3;
  EXPECT_EQ(pool_threads(options, 2), 3u) << "as asked";
}

}  // namespace
}  // namespace isolator::detail
