// The call queue of one child slot: calls waiting to be sent, calls in flight on the child,
// their deadlines and CPU-time watch, cancellation, retries and requeues after a death.
//
// It knows nothing of processes: what it needs from the child (its CPU time, a kill when a
// call overruns) it asks of its Runner. In flight is a list, oldest first (the child runs
// calls in the order they were sent); the window is 1 today, and the deadline and CPU watch
// always guard the oldest call, the one the child is running.
//
// Threads: lives on its supervisor's executor; every member function must be called there.
#pragma once

#include "../call_output.hpp"
#include "../completion.hpp"

#include <isolator/process_isolator.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace isolator::detail {

/// A call accepted by an isolator, not yet completed.
struct PendingCall {
  std::uint64_t id = 0;
  Invocation invocation;  // without its args: they are in the frame
  // The Invoke, encoded (and size-checked) by the caller's thread; shared with the child's
  // write queue, and sent again as it is by a retry or a requeue.
  std::shared_ptr<const std::string> frame;
  ProcessIsolator::Handler handler;
  // Keeps the handler's executor from running out of work while the call is pending.
  boost::asio::any_completion_executor work;
  Cancellation cancellation = Cancellation::none;  // whether the caller's slot has our handler
  bool requeued = false;                           // sent once to a child that died before starting it
  unsigned retries_left = 0;
};

/// A call sent to the child.
struct ActiveCall {
  ActiveCall(PendingCall sent, CallOutput output_budget) : call(std::move(sent)), output(std::move(output_budget)) {}

  PendingCall call;
  CallOutput output;
  std::optional<Failure> cause;  // the first recorded reason the call will fail, if any
  int pid = 0;
  bool started = false;  // the child said Started: the method runs (or ran)
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::optional<std::chrono::milliseconds> timeout;
  CallLimits limits;             // in force for the call (CallResult::limits)
  bool overrides_limits = false;  // the box's limits were set for it: put back after it
};

/// The limits in force for a call: each of `overrides` (CallOptions::limits) where set, else
/// the enforced isolator limit of the same kind (`isolator`: the launcher's Limits). Pure.
CallLimits limits_in_force(const Limits& isolator, const CallLimits& overrides);

/// Completes `call` with `result` on its handler's executor.
void complete(PendingCall call, CallResult result);

class CallQueue {
 public:
  /// What the queue needs from the child its calls run on (its supervisor).
  class Runner {
   public:
    /// `call` passed its deadline or CPU limit: record `why` and kill the child for `cause`.
    virtual void overran(ActiveCall& call, Failure why, ExitCause cause) = 0;
    /// CPU time the child used since the oldest call began; empty when it cannot be read now.
    virtual std::optional<std::chrono::microseconds> cpu_since_begin() = 0;

   protected:
    ~Runner() = default;
  };

  /// `default_timeout`: Options::call_timeout (a call's CPU-time limit comes with it:
  /// send_next); `cpus`: how many CPUs the child may use (the CPU watch checks when the limit could first
  /// be reached); `max_output_bytes`: each call's output budget.
  CallQueue(const boost::asio::any_io_executor& executor, Runner& runner,
            std::optional<std::chrono::milliseconds> default_timeout,
            std::size_t cpus,
            std::size_t max_output_bytes);

  // ---- waiting calls --------------------------------------------------------------------
  void add(PendingCall call) { waiting_.push_back(std::move(call)); }
  /// Back to the front: a call that never ran, or is retried, goes before later ones.
  void requeue(PendingCall call) { waiting_.push_front(std::move(call)); }
  bool has_waiting() const { return !waiting_.empty(); }
  /// The call send_next() would send. Only when has_waiting().
  const PendingCall& next_waiting() const { return waiting_.front(); }
  /// Takes the next waiting call out of the queue (to complete it unsent). Only when
  /// has_waiting().
  PendingCall take_next_waiting();
  /// Completes every waiting call with a failure of `kind`.
  void fail_waiting(FailureKind kind, const std::string& message);

  // ---- calls in flight ------------------------------------------------------------------
  /// Whether another call may be sent now (the window is not full).
  bool has_room() const { return in_flight_.size() < window_; }
  bool has_in_flight() const { return !in_flight_.empty(); }
  /// Moves the next waiting call in flight, on the child `pid`, under `limits` (the limits in
  /// force for it: limits_in_force; its CPU time is the one watched), and starts watching it.
  ActiveCall& send_next(int pid, const CallLimits& limits);
  /// The call in flight with this id, or null.
  ActiveCall* find(std::uint64_t id);
  /// The oldest call in flight (the one the child runs), or null.
  ActiveCall* oldest() { return in_flight_.empty() ? nullptr : &in_flight_.front(); }
  /// Records why the oldest call will fail, unless a reason is already recorded.
  void record_cause(Failure failure);
  /// Records `failure` as the cause of every call in flight that has none.
  void record_cause_for_all(const Failure& failure);
  /// Completes the call in flight `call` with `result` (its output, pid and limits added).
  void finish(ActiveCall& call, CallResult result, const std::string& containment);
  /// Takes `call` out of flight without completing it (for a requeue or a retry).
  PendingCall take_back(ActiveCall& call);

  // ---- cancellation ---------------------------------------------------------------------
  enum class Cancelled { waiting, in_flight, unknown };
  /// A waiting call is completed with `cancelled` at once (`waiting`); a call in flight is
  /// left to the caller, who must kill its child (`in_flight`); `unknown`: already over.
  Cancelled cancel(std::uint64_t id);

  /// Stops the timers (the queue's owner is going away or the child is gone).
  void stop_watching();

 private:
  void watch_oldest();
  void arm_deadline(std::uint64_t id);
  void watch_cpu(std::uint64_t id);

  Runner& runner_;
  const std::optional<std::chrono::milliseconds> default_timeout_;
  const std::size_t cpus_;
  const std::size_t max_output_bytes_;
  const std::size_t window_ = 1;  // calls in flight at once; pipelining raises it
  std::deque<PendingCall> waiting_;
  std::deque<ActiveCall> in_flight_;
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer cpu_timer_;
  std::uint64_t watched_ = 0;  // the call the timers guard (0: none)
};

}  // namespace isolator::detail
