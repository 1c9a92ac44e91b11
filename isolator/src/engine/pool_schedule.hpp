// The pool's scheduling rules, as pure functions of what the pool knows of its children:
// which child takes the next call, and what becomes of a child after a call. No processes,
// no clocks of their own, no locks: the pool calls them under its lock, the unit tests
// directly.
#pragma once

#include <isolator/isolator_pool.hpp>
#include <isolator/process_isolator.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace isolator::detail {

/// One child of the pool, as the pool sees it.
struct PoolChild {
  State state = State::no_child;                 ///< its supervisor's state, as last reported
  bool busy = false;                             ///< a call of the pool is on it
  std::size_t calls = 0;                         ///< calls its current child process has run
  std::chrono::steady_clock::time_point born{};  ///< when its current child process started
};

/// The child that takes the next call: an idle one that is running first; then one whose
/// supervisor is starting or restarting it (the call waits for it) or that was stopped when
/// idle (the call starts it). None when every child is busy or failed.
std::optional<std::size_t> choose_child(const std::vector<PoolChild>& children);

/// True when no child can take calls at all: every one is failed.
bool all_failed(const std::vector<PoolChild>& children);

/// What becomes of a child after it completed a call.
enum class AfterCall {
  keep,     ///< takes the next call
  recycle,  ///< replaced by a fresh child (PoolOptions::max_calls_per_child, recycle_above_rss_bytes)
};

/// `rss_bytes`: the child's resident size now (read only when the rule needs it).
AfterCall after_call(const PoolChild& child, const PoolOptions& options,
                     std::optional<std::int64_t> rss_bytes);

/// Whether a child must be replaced before it takes a call (PoolOptions::max_age).
bool too_old(const PoolChild& child, const PoolOptions& options, std::chrono::steady_clock::time_point now);

/// How many I/O threads a pool runs: PoolOptions::threads, or by default as many as the
/// CPUs, never more than the children and at least one.
std::size_t pool_threads(const PoolOptions& options, std::size_t cpus);

}  // namespace isolator::detail
