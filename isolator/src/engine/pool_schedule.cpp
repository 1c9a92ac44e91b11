#include "pool_schedule.hpp"

#include <algorithm>

namespace isolator::detail {

std::optional<std::size_t> choose_child(const std::vector<PoolChild>& children) {
  // Children that run now first; then the ones that will (starting, restarting after a
  // backoff, or stopped when idle), rather than let a call queue while one of them is free.
  std::optional<std::size_t> waiting_one;
  for (std::size_t i = 0; i < children.size(); ++i) {
    const auto& child = children[i];
    if (child.busy || child.state == State::failed || child.state == State::shutting_down ||
        child.state == State::shut_down) {
      continue;
    }
    if (child.state == State::ready) return i;
    if (!waiting_one) waiting_one = i;
  }
  return waiting_one;
}

bool all_failed(const std::vector<PoolChild>& children) {
  return std::all_of(children.begin(), children.end(),
                     [](const PoolChild& c) { return c.state == State::failed; });
}

AfterCall after_call(const PoolChild& child, const PoolOptions& options,
                     std::optional<std::int64_t> rss_bytes) {
  if (options.max_calls_per_child && child.calls >= *options.max_calls_per_child) return AfterCall::recycle;
  if (options.recycle_above_rss_bytes && rss_bytes && *rss_bytes > *options.recycle_above_rss_bytes) {
    return AfterCall::recycle;
  }
  return AfterCall::keep;
}

bool too_old(const PoolChild& child, const PoolOptions& options, std::chrono::steady_clock::time_point now) {
  return options.max_age && child.state == State::ready && now - child.born > *options.max_age;
}

std::size_t pool_threads(const PoolOptions& options, std::size_t cpus) {
  if (options.threads) return *options.threads;
  return std::max<std::size_t>(1, std::min(options.size, std::max<std::size_t>(1, cpus)));
}

}  // namespace isolator::detail
