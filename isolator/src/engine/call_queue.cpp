#include "call_queue.hpp"

#include "failure_interpretation.hpp"

#include <algorithm>

namespace isolator::detail {

using boost::system::error_code;

void complete(PendingCall call, CallResult result) {
  // The call is over: deliver() also removes our cancellation handler from the caller's slot.
  deliver(std::move(call.work), std::move(call.handler), std::move(result), call.cancellation);
}

CallLimits limits_in_force(const Limits& isolator, const CallLimits& overrides) {
  CallLimits limits;
  limits.memory_bytes = overrides.memory_bytes ? overrides.memory_bytes : isolator.memory_bytes;
  limits.cpu_time = overrides.cpu_time ? overrides.cpu_time : isolator.cpu_time_per_call;
  limits.max_pids = overrides.max_pids ? overrides.max_pids : isolator.max_pids;
  return limits;
}

CallQueue::CallQueue(const boost::asio::any_io_executor& executor, Runner& runner,
                     std::optional<std::chrono::milliseconds> default_timeout, std::size_t cpus,
                     std::size_t max_output_bytes)
    : runner_(runner),
      default_timeout_(default_timeout),
      cpus_(std::max<std::size_t>(1, cpus)),
      max_output_bytes_(max_output_bytes),
      deadline_timer_(executor),
      cpu_timer_(executor) {}

void CallQueue::fail_waiting(FailureKind kind, const std::string& message) {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& call : waiting) complete(std::move(call), failed(kind, message));
}

PendingCall CallQueue::take_next_waiting() {
  PendingCall call = std::move(waiting_.front());
  waiting_.pop_front();
  return call;
}

ActiveCall& CallQueue::send_next(int pid, const CallLimits& limits) {
  PendingCall call = take_next_waiting();
  const auto& options = call.invocation.options;
  const auto timeout = options.timeout ? options.timeout : default_timeout_;
  auto& active = in_flight_.emplace_back(std::move(call), CallOutput(max_output_bytes_));
  active.pid = pid;
  active.timeout = timeout;
  if (timeout) active.deadline = std::chrono::steady_clock::now() + *timeout;
  active.limits = limits;
  if (in_flight_.size() == 1) watch_oldest();
  return active;
}

ActiveCall* CallQueue::find(std::uint64_t id) {
  for (auto& call : in_flight_) {
    if (call.call.id == id) return &call;
  }
  return nullptr;
}

void CallQueue::record_cause(Failure failure) {
  if (!in_flight_.empty() && !in_flight_.front().cause) in_flight_.front().cause = std::move(failure);
}

void CallQueue::record_cause_for_all(const Failure& failure) {
  for (auto& call : in_flight_) {
    if (!call.cause) call.cause = failure;
  }
}

void CallQueue::finish(ActiveCall& call, CallResult result, const std::string& containment) {
  result.containment = containment;
  result.limits = call.limits;
  call.output.move_into(result);
  result.pid = call.pid;
  complete(take_back(call), std::move(result));
}

PendingCall CallQueue::take_back(ActiveCall& call) {
  const auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                               [&](const ActiveCall& c) { return &c == &call; });
  const bool was_oldest = it == in_flight_.begin();
  PendingCall pending = std::move(it->call);
  in_flight_.erase(it);
  if (was_oldest) watch_oldest();
  return pending;
}

CallQueue::Cancelled CallQueue::cancel(std::uint64_t id) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->id != id) continue;
    PendingCall call = std::move(*it);
    waiting_.erase(it);
    complete(std::move(call),
             failed(FailureKind::cancelled, "the caller cancelled the call before it was sent"));
    return Cancelled::waiting;
  }
  return find(id) ? Cancelled::in_flight : Cancelled::unknown;
}

void CallQueue::stop_watching() {
  watched_ = 0;
  deadline_timer_.cancel();
  cpu_timer_.cancel();
}

// The timers guard the oldest call in flight: the one the child is running.
void CallQueue::watch_oldest() {
  stop_watching();
  if (in_flight_.empty()) return;
  watched_ = in_flight_.front().call.id;
  if (in_flight_.front().timeout) arm_deadline(watched_);
  if (in_flight_.front().limits.cpu_time) watch_cpu(watched_);
}

void CallQueue::arm_deadline(std::uint64_t id) {
  deadline_timer_.expires_at(in_flight_.front().deadline);
  deadline_timer_.async_wait([this, id](error_code error) {
    if (error || watched_ != id) return;
    auto& call = in_flight_.front();
    runner_.overran(call, timeout_failure(call.call.invocation, *call.timeout, call.pid), ExitCause::timeout);
  });
}

// Checks the call's CPU time when, at full speed on every CPU the child may use, it could
// first have reached the limit; so the check is cheap and late by little.
void CallQueue::watch_cpu(std::uint64_t id) {
  const auto used = runner_.cpu_since_begin();
  if (!used) return;  // the child is going: its end completes the call
  auto& call = in_flight_.front();
  const std::chrono::microseconds limit = *call.limits.cpu_time;
  if (*used >= limit) {
    runner_.overran(call,
                    cpu_limit_failure(call.call.invocation, *used, limit, call.pid,
                                      call.call.invocation.options.limits.cpu_time.has_value()),
                    ExitCause::cpu_limit);
    return;
  }
  const auto wait = std::max<std::chrono::microseconds>(std::chrono::milliseconds(2),
                                                        (limit - *used) / static_cast<long>(cpus_));
  cpu_timer_.expires_after(wait);
  cpu_timer_.async_wait([this, id](error_code error) {
    if (!error && watched_ == id) watch_cpu(id);
  });
}

}  // namespace isolator::detail
