#include "restart_budget.hpp"

#include <algorithm>
#include <climits>
#include <random>
#include <utility>

namespace isolator::detail {

namespace {

// 2^20 times backoff_initial is past any sensible backoff_max; a larger shift would overflow.
constexpr unsigned max_doubling = 20;

double default_jitter() {
  thread_local std::minstd_rand random(std::random_device{}());
  return std::uniform_real_distribution<double>(0.8, 1.2)(random);
}

}  // namespace

RestartBudget::RestartBudget(const Supervision& policy, Now now, Jitter jitter)
    : policy_(policy),
      now_(now ? std::move(now) : Now(&Clock::now)),
      jitter_(jitter ? std::move(jitter) : Jitter(&default_jitter)) {}

RestartBudget::Decision RestartBudget::on_death(DeathKind kind) {
  const auto now = now_();
  // Restarts exactly restart_window old still count, as they always have.
  while (!storm_restarts_.empty() && now - storm_restarts_.front() > policy_.restart_window) {
    storm_restarts_.pop_front();
  }
  Decision decision;
  if (kind == DeathKind::in_method) {
    if (in_method_streak_ < UINT_MAX) ++in_method_streak_;
    decision.attempt = in_method_streak_;
  } else {
    if (storm_restarts_.size() >= policy_.max_restarts) {
      decision.give_up = true;
      decision.restarts_in_window = static_cast<unsigned>(storm_restarts_.size());
      return decision;
    }
    storm_restarts_.push_back(now);
    decision.attempt = static_cast<unsigned>(storm_restarts_.size());
  }
  decision.restarts_in_window = static_cast<unsigned>(storm_restarts_.size());
  decision.delay = backoff(decision.attempt);
  return decision;
}

void RestartBudget::on_call_succeeded() { in_method_streak_ = 0; }

void RestartBudget::reset() {
  storm_restarts_.clear();
  in_method_streak_ = 0;
}

std::chrono::milliseconds RestartBudget::backoff(unsigned attempt) const {
  const unsigned shift = std::min(attempt - 1, max_doubling);
  const long long initial = std::max<long long>(policy_.backoff_initial.count(), 0);
  const long long cap = std::max<long long>(policy_.backoff_max.count(), 0);
  // Compared before shifting, so that a large backoff_initial cannot overflow either.
  const long long capped = initial > (cap >> shift) ? cap : std::min(initial << shift, cap);
  const double jittered = static_cast<double>(capped) * jitter_();
  // Clamped so that a huge backoff_max times 1.2 is still a duration, not undefined behaviour.
  constexpr double longest = static_cast<double>(std::chrono::milliseconds::max().count());
  if (!(jittered > 0)) return std::chrono::milliseconds(0);
  if (jittered >= longest) return std::chrono::milliseconds::max();
  return std::chrono::milliseconds(static_cast<long long>(jittered));
}

}  // namespace isolator::detail
