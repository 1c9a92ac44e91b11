// IsolatorPool: several warm children, so that calls run in parallel, each child with its
// own box (cgroup), supervisor and restart policy.
//
// Calls wait in one bounded FIFO queue and go to the first idle child (one that runs before
// one that is starting or waiting out a restart backoff). A child is replaced ("recycled")
// after a number of calls, when its resident size passes a threshold, or when it is older
// than a maximum age (checked when it is next given a call); a child idle for longer than
// the idle timeout is stopped, and started again when needed. A child whose supervisor gives
// up (its restart limit) takes no more calls until reset(); the calls it refused go to the
// other children.
//
// The children's supervisors share one io_context, run by a few threads of the pool's own
// (PoolOptions::threads; by default as many as the CPUs, never more than the children).
// Starting and stopping a child never blocks a thread, so no call, metrics() or other
// child waits for a child it does not need. Thread-safe: any number of threads may call
// one pool.
#pragma once

#include <isolator/process_isolator.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace isolator {

/// How an IsolatorPool sizes, queues and recycles its children.
struct PoolOptions {
  /// How each child is started, confined and supervised.
  Options isolator;
  /// How many children run at once. Each holds file descriptors in this process: 4 under
  /// the rlimit backend, up to 7 under cgroup v2, up to 13 under cgroup v1; each I/O thread
  /// 3 more, and up to 4 more per thread while a child starts. A pool of 8 under cgroup v1 on
  /// 2 threads needs about 8 x 13 + 2 x 3 + 2 x 4 = 118 besides what the application holds,
  /// more than `ulimit -n 64` allows; create() then fails with a StartError that says so.
  /// See docs/limits.md, "File descriptors".
  std::size_t size = 2;
  /// Most calls waiting for a child; past it, a call is refused with an Error at once.
  std::size_t max_queue = 1024;
  /// Replace a child after this many calls (1: a fresh child for every call).
  std::optional<std::size_t> max_calls_per_child;
  /// Replace a child whose resident size is above this after a call.
  std::optional<std::int64_t> recycle_above_rss_bytes;
  /// Replace a child older than this before giving it a call.
  std::optional<std::chrono::milliseconds> max_age;
  /// Stop a child that has been idle this long, freeing what it holds; the next call that
  /// needs its place starts a fresh one.
  std::optional<std::chrono::milliseconds> idle_timeout;
  /// How many I/O threads run the children's supervisors (and, by default, the completion
  /// handlers and callbacks): from 1 to `size`. Empty: as many as the CPUs, at most `size`.
  std::optional<std::size_t> threads;
};

/// A snapshot of what the pool has done.
struct PoolMetrics {
  std::uint64_t calls = 0;     ///< calls completed
  std::uint64_t failures = 0;  ///< calls completed with a Failure
  /// Failed calls by FailureKind name ("crashed", "timeout", ...).
  std::map<std::string, std::uint64_t> failures_by_kind;
  /// Children restarted by their supervisor (counted as each replacement is running).
  std::uint64_t restarts = 0;
  std::uint64_t recycled = 0;  ///< children replaced (or stopped when idle) by the recycling rules
  /// Children whose supervisor gave up (restart limit reached): they take no calls until
  /// IsolatorPool::reset().
  std::size_t failed_children = 0;
  std::size_t queue_length = 0;  ///< calls waiting for a child now
  /// Latency (queueing included) of the most recent calls, up to 4096 of them.
  std::chrono::microseconds latency_p50{0};  ///< median
  std::chrono::microseconds latency_p90{0};  ///< 90th percentile
  std::chrono::microseconds latency_p99{0};  ///< 99th percentile
};

/// N warm children, each with its own box and supervisor, fed from one bounded FIFO queue: a
/// call goes to the first idle child. Thread-safe: every member function may be called from
/// any thread, except that invoke() and shutdown(), which wait, throw Error where they could
/// wait for themselves: on one of the pool's I/O threads or an isolator's, where completion
/// handlers and Options callbacks run by default.
/// See docs/architecture.md, "The pool".
class IsolatorPool {
 public:
  /// The type-erased completion handler async_invoke stores.
  using Handler = ProcessIsolator::Handler;

  /// Starts `size` children at once and blocks until all have started. Throws OptionsError
  /// or StartError as ProcessIsolator::create (the children already started are shut down),
  /// and OptionsError when size, max_queue or max_calls_per_child is 0 or threads is outside
  /// 1..size. Any thread.
  static std::unique_ptr<IsolatorPool> create(PoolOptions options);

  /// Shuts every child down; pending calls complete with `shutdown`. Blocks as shutdown()
  /// does; where shutdown() would throw (in a completion handler or callback on one of the
  /// pool's I/O threads or an isolator's), it starts the shutdown and returns at once, and
  /// the pool's own threads finish it and release everything.
  ~IsolatorPool();
  IsolatorPool(const IsolatorPool&) = delete;
  IsolatorPool& operator=(const IsolatorPool&) = delete;

  /// Runs one call on the first idle child and blocks until it completes. Throws Error when
  /// the call cannot be sent (as ProcessIsolator::async_invoke) or the queue is full,
  /// ShutDownError after shutdown(), and Error on one of the pool's I/O threads or an
  /// isolator's (a completion handler or callback), where the call could wait for itself.
  /// When every child has reached its restart limit, the call fails with `restart_limit`.
  CallResult invoke(Invocation invocation);

  /// As invoke(), completing `token` (any Asio completion token) with the CallResult on the
  /// handler's associated executor; by default on one of the pool's I/O threads, or on the
  /// thread calling shutdown() for a call still queued then. Throws Error when the call cannot
  /// be sent or the queue is full, ShutDownError after shutdown(); never waits and never runs
  /// the handler before it returns, and may be called from any thread, handlers included.
  /// When the handler has a cancellation slot, emitting it cancels the call (`cancelled`): a
  /// queued call is dropped, a running call's child is killed and replaced. An exception the
  /// handler throws is logged and ignored.
  template <class CompletionToken>
  auto async_invoke(Invocation invocation, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(CallResult)>(
        [this](auto handler, Invocation inv) { start_invoke(std::move(inv), Handler(std::move(handler))); },
        token, std::move(invocation));
  }

  /// Runs a program (ProcessIsolator::run) on the first idle child and blocks until it ends.
  /// Throws as invoke() does, and Error for a Command that cannot be run.
  CallResult run(Command command);

  /// As run(), completing `token` as async_invoke() does.
  template <class CompletionToken>
  auto async_run(Command command, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(CallResult)>(
        [this](auto handler, Command c) { start_run(std::move(c), Handler(std::move(handler))); }, token,
        std::move(command));
  }

  /// A consistent snapshot of the counters and latency percentiles; cheap, never waits for a
  /// call or a child's start. Any thread.
  PoolMetrics metrics() const;

  /// The pids of the children now running, one entry per child (0 for a child that is
  /// restarting or stopped when idle; all 0 after shutdown()). Any thread.
  std::vector<int> pids() const;

  /// Restarts every child that reached its restart limit (ProcessIsolator::reset()), so that
  /// it takes calls again. Returns at once; does nothing when no child is failed. Throws
  /// ShutDownError after shutdown(). Any thread.
  void reset();

  /// Stops every child; idempotent. Queued calls complete with `shutdown` (on this thread),
  /// calls in flight as ProcessIsolator::shutdown() ends them; blocks until every child is
  /// stopped (concurrent callers all wait for the one shutdown). Throws Error on one of the
  /// pool's I/O threads or an isolator's (a completion handler or callback), where it would
  /// wait for itself; destroying the pool there is allowed.
  void shutdown();

  class Impl;

 private:
  explicit IsolatorPool(std::shared_ptr<Impl> impl);
  void start_invoke(Invocation invocation, Handler handler);
  void start_run(Command command, Handler handler);

  std::shared_ptr<Impl> impl_;
};

}  // namespace isolator
