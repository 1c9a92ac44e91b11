#include "engine/restart_budget.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace isolator::detail {
namespace {

using std::chrono::milliseconds;
using Kind = DeathKind;

// A budget on a clock and a jitter the test moves by hand: nothing sleeps, nothing starts.
struct Fixture {
  RestartBudget::Clock::time_point now{};  // an arbitrary epoch; only differences matter
  double jitter = 1.0;
  RestartBudget budget;

  explicit Fixture(const Supervision& policy)
      : budget(
            policy, [this] { return now; }, [this] { return jitter; }) {}

  void advance(milliseconds by) { now += by; }
};

Supervision policy(unsigned max_restarts = 5, milliseconds window = milliseconds(30'000),
                   milliseconds initial = milliseconds(10), milliseconds max = milliseconds(2'000)) {
  Supervision supervision;
  supervision.max_restarts = max_restarts;
  supervision.restart_window = window;
  supervision.backoff_initial = initial;
  supervision.backoff_max = max;
  return supervision;
}

TEST(RestartBudget, FirstStormRestartWaitsTheInitialBackoff) {
  Fixture f(policy());
  const auto decision = f.budget.on_death(Kind::before_method);
  EXPECT_FALSE(decision.give_up);
  EXPECT_EQ(decision.attempt, 1u);
  EXPECT_EQ(decision.delay, milliseconds(10));
  EXPECT_EQ(decision.restarts_in_window, 1u);
}

TEST(RestartBudget, StormBackoffDoublesUpToTheCap) {
  Fixture f(policy(100, milliseconds(30'000), milliseconds(10), milliseconds(100)));
  const milliseconds expected[] = {milliseconds(10),  milliseconds(20),  milliseconds(40), milliseconds(80),
                                   milliseconds(100), milliseconds(100), milliseconds(100)};
  unsigned attempt = 0;
  for (const auto delay : expected) {
    const auto decision = f.budget.on_death(Kind::before_method);
    ++attempt;
    EXPECT_EQ(decision.attempt, attempt);
    EXPECT_EQ(decision.restarts_in_window, attempt);
    EXPECT_EQ(decision.delay, delay) << "attempt " << attempt;
  }
}

TEST(RestartBudget, JitterScalesTheBackoffBothWays) {
  Fixture f(policy(100, milliseconds(30'000), milliseconds(100), milliseconds(1'000)));
  f.jitter = 0.8;
  EXPECT_EQ(f.budget.on_death(Kind::before_method).delay, milliseconds(80));
  f.jitter = 1.2;
  EXPECT_EQ(f.budget.on_death(Kind::before_method).delay, milliseconds(240));
  // Jitter applies after the cap, so a capped delay may exceed backoff_max by up to 20 %.
  for (int i = 0; i < 3; ++i) f.budget.on_death(Kind::before_method);
  EXPECT_EQ(f.budget.on_death(Kind::before_method).delay, milliseconds(1'200));
  f.jitter = 0.8;
  EXPECT_EQ(f.budget.on_death(Kind::before_method).delay, milliseconds(800));
}

TEST(RestartBudget, DefaultJitterStaysWithinTwentyPercent) {
  RestartBudget budget(policy(1'000, milliseconds(30'000), milliseconds(1'000), milliseconds(1'000)));
  for (int i = 0; i < 200; ++i) {
    const auto delay = budget.on_death(Kind::before_method).delay;
    EXPECT_GE(delay, milliseconds(800));
    EXPECT_LE(delay, milliseconds(1'200));
  }
}

TEST(RestartBudget, GivesUpAfterMaxRestartsStormDeathsWithinTheWindow) {
  Fixture f(policy(3));
  for (unsigned i = 1; i <= 3; ++i) {
    f.advance(milliseconds(100));
    const auto decision = f.budget.on_death(Kind::before_method);
    EXPECT_FALSE(decision.give_up) << "storm death " << i;
    EXPECT_EQ(decision.attempt, i);
  }
  f.advance(milliseconds(100));
  const auto decision = f.budget.on_death(Kind::before_method);
  EXPECT_TRUE(decision.give_up);
  EXPECT_EQ(decision.attempt, 0u);
  EXPECT_EQ(decision.delay, milliseconds(0));
  EXPECT_EQ(decision.restarts_in_window, 3u) << "RestartLimitEvent::attempts";
  EXPECT_TRUE(f.budget.on_death(Kind::before_method).give_up) << "still failed while the window holds them";
}

TEST(RestartBudget, ZeroMaxRestartsGivesUpAtTheFirstStormDeath) {
  Fixture f(policy(0));
  const auto decision = f.budget.on_death(Kind::before_method);
  EXPECT_TRUE(decision.give_up);
  EXPECT_EQ(decision.restarts_in_window, 0u);
}

TEST(RestartBudget, ForgetsRestartsOlderThanTheWindow) {
  Fixture f(policy(2, milliseconds(1'000)));
  f.budget.on_death(Kind::before_method);  // at 0
  f.advance(milliseconds(600));
  f.budget.on_death(Kind::before_method);  // at 600
  f.advance(milliseconds(400));
  EXPECT_TRUE(f.budget.on_death(Kind::before_method).give_up)
      << "at 1000 the first restart is exactly one window old: still counted";
  f.advance(milliseconds(1));
  auto decision = f.budget.on_death(Kind::before_method);  // at 1001: the first is forgotten
  EXPECT_FALSE(decision.give_up);
  EXPECT_EQ(decision.attempt, 2u);
  EXPECT_EQ(decision.restarts_in_window, 2u);
  EXPECT_EQ(decision.delay, milliseconds(20)) << "the backoff follows the count in the window";
  f.advance(milliseconds(5'000));
  decision = f.budget.on_death(Kind::before_method);
  EXPECT_EQ(decision.attempt, 1u) << "a child that stayed up a window starts over";
  EXPECT_EQ(decision.delay, milliseconds(10));
}

TEST(RestartBudget, InMethodDeathsNeverGiveUp) {
  Fixture f(policy(2));
  for (unsigned i = 1; i <= 500; ++i) {
    const auto decision = f.budget.on_death(Kind::in_method);
    ASSERT_FALSE(decision.give_up) << "in-method death " << i;
    EXPECT_EQ(decision.attempt, i);
    EXPECT_EQ(decision.restarts_in_window, 0u);
  }
}

TEST(RestartBudget, InMethodBackoffGrowsWithTheStreakAndIsCapped) {
  Fixture f(policy(5, milliseconds(30'000), milliseconds(10), milliseconds(2'000)));
  const milliseconds expected[] = {
      milliseconds(10),  milliseconds(20),  milliseconds(40),    milliseconds(80),    milliseconds(160),
      milliseconds(320), milliseconds(640), milliseconds(1'280), milliseconds(2'000), milliseconds(2'000)};
  for (const auto delay : expected) EXPECT_EQ(f.budget.on_death(Kind::in_method).delay, delay);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(f.budget.on_death(Kind::in_method).delay, milliseconds(2'000));
}

TEST(RestartBudget, ASuccessfulCallEndsTheInMethodStreak) {
  Fixture f(policy());
  for (int i = 0; i < 4; ++i) f.budget.on_death(Kind::in_method);
  EXPECT_EQ(f.budget.on_death(Kind::in_method).delay, milliseconds(160));
  f.budget.on_call_succeeded();
  const auto decision = f.budget.on_death(Kind::in_method);
  EXPECT_EQ(decision.attempt, 1u);
  EXPECT_EQ(decision.delay, milliseconds(10));
}

TEST(RestartBudget, ASuccessfulCallDoesNotForgiveStormRestarts) {
  Fixture f(policy(2));
  f.budget.on_death(Kind::before_method);
  f.budget.on_death(Kind::before_method);
  f.budget.on_call_succeeded();
  EXPECT_TRUE(f.budget.on_death(Kind::before_method).give_up);
}

TEST(RestartBudget, InMethodDeathsDoNotConsumeTheStormBudget) {
  Fixture f(policy(2));
  for (int i = 0; i < 50; ++i) f.budget.on_death(Kind::in_method);
  auto decision = f.budget.on_death(Kind::before_method);
  EXPECT_FALSE(decision.give_up);
  EXPECT_EQ(decision.attempt, 1u);
  EXPECT_EQ(decision.delay, milliseconds(10)) << "the storm count starts at 1, whatever the streak";
  decision = f.budget.on_death(Kind::before_method);
  EXPECT_FALSE(decision.give_up);
  EXPECT_EQ(decision.attempt, 2u);
  EXPECT_TRUE(f.budget.on_death(Kind::before_method).give_up);
}

TEST(RestartBudget, StormDeathsDoNotLengthenTheInMethodStreak) {
  Fixture f(policy(100));
  for (int i = 0; i < 10; ++i) f.budget.on_death(Kind::before_method);
  auto decision = f.budget.on_death(Kind::in_method);
  EXPECT_EQ(decision.attempt, 1u);
  EXPECT_EQ(decision.delay, milliseconds(10));
  EXPECT_EQ(decision.restarts_in_window, 10u) << "reported, though it does not count";
  // Nor do they end it: only a successful call does.
  f.budget.on_death(Kind::before_method);
  decision = f.budget.on_death(Kind::in_method);
  EXPECT_EQ(decision.attempt, 2u);
  EXPECT_EQ(decision.delay, milliseconds(20));
}

TEST(RestartBudget, ResetForgetsStormsAndTheStreak) {
  Fixture f(policy(2));
  f.budget.on_death(Kind::before_method);
  f.budget.on_death(Kind::before_method);
  ASSERT_TRUE(f.budget.on_death(Kind::before_method).give_up);
  for (int i = 0; i < 5; ++i) f.budget.on_death(Kind::in_method);
  f.budget.reset();
  auto decision = f.budget.on_death(Kind::before_method);
  EXPECT_FALSE(decision.give_up);
  EXPECT_EQ(decision.attempt, 1u);
  EXPECT_EQ(decision.restarts_in_window, 1u);
  EXPECT_EQ(decision.delay, milliseconds(10));
  decision = f.budget.on_death(Kind::in_method);
  EXPECT_EQ(decision.attempt, 1u);
  EXPECT_EQ(decision.delay, milliseconds(10));
}

TEST(RestartBudget, AHugeAttemptCountDoesNotOverflowTheDoubling) {
  // 2^20 * 10 ms is under this cap, so the delay shows where the exponent stops.
  Fixture f(policy(100'000, milliseconds(30'000), milliseconds(10), milliseconds(1LL << 40)));
  milliseconds delay{0};
  for (int i = 0; i < 10'000; ++i) delay = f.budget.on_death(Kind::in_method).delay;
  EXPECT_EQ(delay, milliseconds(10LL << 20)) << "the exponent stops at 20";
  for (int i = 0; i < 10'000; ++i) delay = f.budget.on_death(Kind::before_method).delay;
  EXPECT_EQ(delay, milliseconds(10LL << 20));
}

TEST(RestartBudget, ExtremeBackoffsStayDurations) {
  // A backoff_initial that a 2^20 shift would overflow, and a cap that 1.2 jitter would.
  Fixture f(policy(100, milliseconds(30'000), milliseconds::max() / 4, milliseconds::max()));
  f.jitter = 1.2;
  for (int i = 0; i < 30; ++i) {
    const auto delay = f.budget.on_death(Kind::in_method).delay;
    EXPECT_GT(delay, milliseconds(0));
  }
  EXPECT_EQ(f.budget.on_death(Kind::in_method).delay, milliseconds::max());
}

TEST(RestartBudget, ZeroInitialBackoffRestartsAtOnce) {
  Fixture f(policy(5, milliseconds(30'000), milliseconds(0), milliseconds(0)));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.budget.on_death(Kind::before_method).delay, milliseconds(0));
  EXPECT_EQ(f.budget.on_death(Kind::in_method).delay, milliseconds(0));
}

TEST(RestartBudget, KeepsItsPolicy) {
  const RestartBudget budget(policy(7, milliseconds(1'234)));
  EXPECT_EQ(budget.policy().max_restarts, 7u);
  EXPECT_EQ(budget.policy().restart_window, milliseconds(1'234));
}

}  // namespace
}  // namespace isolator::detail
