// How Containment::automatic picks a backend from the checks of every backend, and the names
// the host and pihost share (limit kinds, pihost's exit codes). No backend is checked on this
// machine and no process is started: the checks are made up.
#include "platform/linux/containment/backend.hpp"

#include <isolator/errors.hpp>
#include <isolator/limits.hpp>
#include <isolator/probe.hpp>
#include <isolator/wire/pihost_contract.hpp>

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace isolator::detail {
namespace {

using namespace std::chrono_literals;

constexpr LimitKind every_kind[] = {LimitKind::memory, LimitKind::cpu, LimitKind::pids, LimitKind::affinity,
                                    LimitKind::cpu_time};

// A usable backend enforcing every limit except `missing`, each of those saying why not.
BackendCheck usable(Containment backend, std::initializer_list<LimitKind> missing = {}) {
  BackendCheck check{backend, true, "works", "", {}};
  for (const auto kind : every_kind) {
    bool enforceable = true;
    for (const auto gone : missing) enforceable = enforceable && gone != kind;
    const std::string name(to_string(kind));
    const std::string how = enforceable ? "a mechanism" : "no " + name + " here";
    check.limits.push_back(LimitCheck{name, enforceable, how, "", kind});
  }
  return check;
}

BackendCheck refused(Containment backend, std::string detail) {
  BackendCheck check = usable(backend);
  check.usable = false;
  check.detail = std::move(detail);
  return check;
}

Limits memory_and_cpu() {
  Limits limits;
  limits.memory_bytes = 64 << 20;
  limits.cpu_percent = 50;
  return limits;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(BackendChoice, TheStrongestUsableBackendEnforcingEveryRequestedLimitIsNoFallback) {
  const std::vector<BackendCheck> checks = {usable(Containment::cgroup_v2), usable(Containment::cgroup_v1),
                                            usable(Containment::rlimit, {LimitKind::cpu})};
  const auto choice = choose_backend(checks, memory_and_cpu());
  EXPECT_EQ(choice.index, 0u);
  EXPECT_FALSE(choice.fallback) << choice.why;
  EXPECT_TRUE(contains(choice.why, "cgroup-v2 is the strongest backend")) << choice.why;
}

TEST(BackendChoice, ARefusedStrongerBackendMakesAFallbackThatSaysWhy) {
  const std::vector<BackendCheck> checks = {refused(Containment::cgroup_v2, "no delegated subtree"),
                                            usable(Containment::cgroup_v1), usable(Containment::rlimit)};
  const auto choice = choose_backend(checks, memory_and_cpu());
  EXPECT_EQ(choice.index, 1u);
  EXPECT_TRUE(choice.fallback);
  EXPECT_TRUE(contains(choice.why, "cgroup-v2 refused: no delegated subtree")) << choice.why;
}

TEST(BackendChoice, ABackendThatCannotEnforceARequestedLimitIsPassedOverForOneThatCan) {
  const std::vector<BackendCheck> checks = {usable(Containment::cgroup_v2, {LimitKind::cpu}),
                                            usable(Containment::cgroup_v1), usable(Containment::rlimit)};
  const auto choice = choose_backend(checks, memory_and_cpu());
  EXPECT_EQ(choice.index, 1u);
  EXPECT_TRUE(choice.fallback);
  EXPECT_TRUE(contains(choice.why, "cgroup-v1 is the strongest backend")) << choice.why;
  EXPECT_TRUE(contains(choice.why, "cgroup-v2 cannot enforce cpu (no cpu here)")) << choice.why;
}

TEST(BackendChoice, WhenNoneEnforcesEverythingTheOneEnforcingTheMostIsChosenAndWhyNamesWhatIsMissing) {
  Limits limits = memory_and_cpu();
  limits.max_pids = 10;
  const std::vector<BackendCheck> checks = {
      usable(Containment::cgroup_v2, {LimitKind::cpu, LimitKind::pids}),
      usable(Containment::cgroup_v1, {LimitKind::cpu}),
      usable(Containment::rlimit, {LimitKind::cpu, LimitKind::pids, LimitKind::memory})};
  const auto choice = choose_backend(checks, limits);
  EXPECT_EQ(choice.index, 1u);
  EXPECT_TRUE(choice.fallback);
  EXPECT_TRUE(contains(choice.why, "cgroup-v1 enforces the most requested limits, not all of them"))
      << choice.why;
  EXPECT_TRUE(contains(choice.why, "cgroup-v1 cannot enforce cpu (no cpu here)")) << choice.why;
}

TEST(BackendChoice, OnATieTheStrongerBackendIsChosen) {
  const std::vector<BackendCheck> checks = {usable(Containment::cgroup_v2, {LimitKind::cpu}),
                                            usable(Containment::rlimit, {LimitKind::cpu})};
  const auto choice = choose_backend(checks, memory_and_cpu());
  EXPECT_EQ(choice.index, 0u);
  EXPECT_TRUE(choice.fallback);
}

TEST(BackendChoice, UnrequestedLimitsThatCannotBeEnforcedDoNotMatter) {
  Limits limits;
  limits.memory_bytes = 64 << 20;
  const std::vector<BackendCheck> checks = {
      usable(Containment::cgroup_v2,
             {LimitKind::cpu, LimitKind::pids, LimitKind::affinity, LimitKind::cpu_time}),
      usable(Containment::rlimit)};
  const auto choice = choose_backend(checks, limits);
  EXPECT_EQ(choice.index, 0u);
  EXPECT_FALSE(choice.fallback) << choice.why;

  // With nothing requested, the strongest usable backend is chosen whatever it lacks.
  const auto unlimited = choose_backend(
      {refused(Containment::cgroup_v2, "no"), usable(Containment::cgroup_v1, {LimitKind::memory}),
       usable(Containment::rlimit)},
      Limits{});
  EXPECT_EQ(unlimited.index, 1u);
  EXPECT_TRUE(unlimited.fallback) << "cgroup v2 was refused: " << unlimited.why;
}

TEST(BackendChoice, HardeningEntriesWithoutAKindAreNoLimit) {
  BackendCheck check = usable(Containment::cgroup_v2);
  check.limits.push_back(LimitCheck{"no-network", false, "no namespaces", "", std::nullopt});
  const auto choice = choose_backend({check, usable(Containment::rlimit)}, memory_and_cpu());
  EXPECT_EQ(choice.index, 0u);
  EXPECT_FALSE(choice.fallback) << choice.why;
}

TEST(BackendChoice, NoUsableBackendIsAStartErrorNamingEachRefusal) {
  try {
    choose_backend({refused(Containment::cgroup_v2, "no subtree"), refused(Containment::rlimit, "odd")},
                   Limits{});
    FAIL() << "no StartError";
  } catch (const StartError& e) {
    EXPECT_TRUE(contains(e.what(), "cgroup-v2 refused: no subtree")) << e.what();
    EXPECT_TRUE(contains(e.what(), "rlimit refused: odd")) << e.what();
  }
}

TEST(LimitKind, NamesRoundTripAndAreTodaysStrings) {
  EXPECT_EQ(to_string(LimitKind::memory), "memory");
  EXPECT_EQ(to_string(LimitKind::cpu), "cpu");
  EXPECT_EQ(to_string(LimitKind::pids), "pids");
  EXPECT_EQ(to_string(LimitKind::affinity), "affinity");
  EXPECT_EQ(to_string(LimitKind::cpu_time), "cpu-time");
  for (const auto kind : every_kind) EXPECT_EQ(parse_limit_kind(to_string(kind)), kind);
  EXPECT_EQ(parse_limit_kind("cpu_time"), std::nullopt);
  EXPECT_EQ(parse_limit_kind("no-network"), std::nullopt);
  EXPECT_EQ(parse_limit_kind(""), std::nullopt);
}

TEST(LimitKind, IsSetFollowsTheFieldOfEachKind) {
  Limits limits;
  for (const auto kind : every_kind) EXPECT_FALSE(limits.is_set(kind)) << to_string(kind);
  limits.memory_bytes = 1 << 20;
  limits.cpu_percent = 10;
  limits.max_pids = 1;
  limits.cpu_affinity = {0};
  limits.cpu_time_per_call = 1ms;
  for (const auto kind : every_kind) EXPECT_TRUE(limits.is_set(kind)) << to_string(kind);
}

TEST(PihostContract, EachOfPihostsExitCodesHasAMeaning) {
  for (const int code :
       {wire::exit_usage, wire::exit_host_gone, wire::exit_internal_error, wire::exit_protocol}) {
    EXPECT_EQ(wire::exit_code_meaning(code).substr(0, 5), "when ") << code;
  }
  EXPECT_EQ(wire::exit_code_meaning(wire::exit_host_gone), "when it loses the channel to the host");
  // Any other code, 0 included, is the plugin's: pihost exits 0 only after the host closed
  // the channel, never during a call.
  for (const int code : {wire::exit_channel_closed, 1, 3, 255}) {
    EXPECT_TRUE(wire::exit_code_meaning(code).empty()) << code;
  }
}

}  // namespace
}  // namespace isolator::detail
