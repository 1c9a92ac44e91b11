#include "supervisor.hpp"

#include "../guarded.hpp"
#include "../log.hpp"
#include "failure_interpretation.hpp"

#include <isolator/wire/codec.hpp>

#include <boost/asio/post.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <cstring>

namespace isolator::detail {

namespace asio = boost::asio;
using boost::system::error_code;

Supervisor::Supervisor(const asio::any_io_executor& executor, const Options& options,
                       std::unique_ptr<Launcher> launcher, Observer* observer)
    : executor_(executor),
      options_(options),
      notifier_(options),
      launcher_(std::move(launcher)),
      containment_(launcher_->containment()),
      limits_(launcher_->limits()),
      observer_(observer),
      budget_(options.supervision),
      queue_(executor, *this, options.call_timeout, usable_cpus(limits_.cpu_affinity),
             options.max_output_bytes_per_call),
      services_(executor, options),
      stop_timer_(executor),
      restart_timer_(executor),
      heartbeat_timer_(executor),
      record_(publish_slot(options, observer ? "pool" : "isolator", containment_, limits_)) {}

Supervisor::~Supervisor() = default;

// ---- state ---------------------------------------------------------------------------------

State Supervisor::public_state(Phase phase) {
  switch (phase) {
    case Phase::ready: return State::ready;
    case Phase::failed: return State::failed;
    case Phase::stopping: return State::shutting_down;
    case Phase::stopped: return State::shut_down;
    case Phase::no_child:
    case Phase::starting:
    case Phase::restarting:
    case Phase::backoff:
    case Phase::replacing: return State::no_child;
  }
  return State::no_child;
}

void Supervisor::enter(Phase phase) {
  phase_ = phase;
  const State state = public_state(phase);
  if (state_.exchange(state) != state && observer_) observer_->on_state(*this, state);
}

// ---- starting ------------------------------------------------------------------------------

void Supervisor::start(StartDone done) {
  start_done_ = std::move(done);
  start_child(Phase::starting);
}

void Supervisor::start_child(Phase phase) {
  enter(phase);
  crash_.reset();
  try {
    child_ = launcher_->start(executor_, *this);
  } catch (const std::exception& e) {
    child_.reset();
    start_failed(e.what());
  }
}

void Supervisor::start_failed(const std::string& message) {
  if (stopping()) {
    // A start the stop itself cut short (it kills a child still starting) is no failure.
    log().debug("pihost start cut short by the stop: {}", message);
  } else {
    log().error("cannot start pihost: {}", message);
    notifier_.event(StartFailedEvent{message});
  }
  if (start_done_) std::exchange(start_done_, nullptr)(message);
  if (phase_ == Phase::replacing && replaced_) {
    // The old child is still there and well: it stays in service. The new one's exit, if it
    // was spawned, is no longer current.
    log().warn("the replacement of pihost pid {} could not start; keeping it", replaced_->pid());
    child_ = std::move(replaced_);
    pid_ = child_->pid();
    enter(Phase::ready);
    last_pong_ = std::chrono::steady_clock::now();  // its Pongs were not read meanwhile
    if (options_.supervision.heartbeat_interval.count() > 0) heartbeat(++child_generation_);
    pump();
    return;
  }
  if (phase_ == Phase::restarting) {
    // A failed restart is a restart storm: the budget decides whether to try again. The
    // child (if one was spawned) still reports its exit, which is then not current.
    child_.reset();
    after_death(ExitStatus{}, DeathKind::before_method, message);
    return;
  }
  queue_.fail_waiting(FailureKind::start_failed, "no child could be started: " + message);
  if (child_) return;  // spawned: its exit follows, and is handled as a death
  if (stopping()) {
    if (retired_.empty()) finish_stop();
  } else {
    enter(Phase::no_child);
  }
}

void Supervisor::on_child_ready(ChildProcess& child) {
  if (is_spare(child)) {  // (retired at stop: never the spare while stopping)
    // It starts with the data as it is now; set_data sends it what changes from here on.
    for (const auto& [key, value] : data_) child.send(wire::encode_frame(wire::SetData{key, value}));
    log().debug("spare pihost pid {} started ({})", child.pid(), launcher_->pihost());
    notifier_.event(StartedEvent{child.pid(), containment_, true});
    return;
  }
  // Stopping: the channel is closed already, and the child exits as it reads end-of-file.
  if (!is_current(child) || stopping()) return;
  enter_service(child, false);
}

void Supervisor::enter_service(ChildProcess& child, bool from_spare) {
  pid_ = child.pid();
  loaded_.clear();      // a new child has loaded nothing
  services_.forget();  // nor asked for anything
  if (!from_spare) {
    for (const auto& [key, value] : data_) child.send(wire::encode_frame(wire::SetData{key, value}));
  }
  log().debug("pihost pid {} {} ({})", child.pid(), from_spare ? "(the spare) took over" : "started",
              launcher_->pihost());
  if (record_) record_->child_ready(child.pid());
  const bool restarted = phase_ == Phase::restarting;
  const bool recycled = phase_ == Phase::replacing;
  if (recycled && replaced_) retire(std::move(replaced_));
  enter(Phase::ready);
  if (recycled && observer_) observer_->on_recycled(*this);
  if (!from_spare) notifier_.event(StartedEvent{child.pid(), containment_});
  if (restarted) {
    notifier_.event(RestartedEvent{previous_pid_, child.pid(), last_attempt_.attempt, last_attempt_.delay});
    if (observer_) observer_->on_restarted(*this);
  }
  if (start_done_) std::exchange(start_done_, nullptr)(std::nullopt);
  last_pong_ = std::chrono::steady_clock::now();
  if (options_.supervision.heartbeat_interval.count() > 0) heartbeat(++child_generation_);
  pump();
  spare_wanted_ = options_.supervision.spare_child;
  // A spawn runs on this thread: with a call in flight it would hold up that call's reply
  // (the first call of a new child, the one a restart is measured by), so it waits for the
  // reply (on_reply).
  if (!queue_.has_in_flight()) post_spare_start();
}

void Supervisor::post_spare_start() {
  if (!spare_wanted_ || spare_ || spare_start_posted_) return;
  spare_start_posted_ = true;
  asio::post(executor_, [this] { start_spare(); });
}

void Supervisor::start_spare() {
  spare_start_posted_ = false;
  if (!spare_wanted_ || spare_ || phase_ != Phase::ready) return;
  spare_wanted_ = false;  // one attempt per child in service: a spare that fails or dies waits for the next
  try {
    spare_ = launcher_->start(executor_, *this);
  } catch (const std::exception& e) {
    spare_.reset();
    log().warn("cannot start a spare pihost: {}; a restart starts a child as without one", e.what());
  }
}

bool Supervisor::take_spare(Phase phase) {
  // Every child whose plugin could have planted links for the spare must be gone first: the
  // current one is (reaped), and a retired one still stopping (a changed library) is not.
  if (!spare_ || !spare_->ready() || !retired_.empty()) return false;
  try {
    spare_->clear_library_links();
  } catch (const std::exception& error) {
    log().warn("not using the spare pihost pid {}: {}; starting a new child", spare_->pid(), error.what());
    retire(std::move(spare_));
    return false;
  }
  enter(phase);
  crash_.reset();
  kill_cause_.reset();
  child_ = std::move(spare_);
  enter_service(*child_, true);
  return true;
}

void Supervisor::on_child_start_failed(ChildProcess& child, std::string message) {
  if (is_spare(child)) {
    log().warn("the spare pihost could not start: {}; a restart starts a child as without one", message);
    // Retired, not dropped: it is being killed, and a stop must wait for its exit.
    retire(std::move(spare_));
    spare_wanted_ = false;  // the next child in service tries again
    return;
  }
  if (is_current(child)) start_failed(message);
}

// ---- calls ---------------------------------------------------------------------------------

void Supervisor::submit(PendingCall call) {
  if (stopping()) {
    complete(std::move(call),
             failed(FailureKind::shutdown, "the isolator shut down before the call was sent"));
    return;
  }
  if (phase_ == Phase::failed) {
    complete(std::move(call), failed(FailureKind::restart_limit, failed_reason_));
    return;
  }
  queue_.add(std::move(call));
  pump();
}

void Supervisor::pump() {
  const bool limits_just_read = std::exchange(limits_read_at_reply_, false);
  if (!queue_.has_waiting() || stopping()) return;
  if (phase_ == Phase::no_child) {
    start_or_take_spare(Phase::starting);  // no child (it exited normally, or was stopped when idle)
    return;
  }
  if (phase_ != Phase::ready || !child_ || !child_->ready()) return;  // on_child_ready pumps again
  // A thread or process an earlier call left running may have changed a limit since the last
  // reply: no call may start under it. Right after a reply the limits were just read.
  if (!limits_just_read && !limits_hold()) return;
  while (queue_.has_waiting() && queue_.has_room()) {
    if (options_.reload_changed_libraries && !is_program(queue_.next_waiting().invocation)) {
      const std::string& library = queue_.next_waiting().invocation.library;
      if (auto change = library_change(library)) {
        if (queue_.has_in_flight()) return;  // once the child is idle: on_reply pumps again
        replace_for_changed_library(library, *change);
        return;
      }
    }
    // What the child wrote before this call is sent belongs to no call (a thread an earlier
    // call left running, say); from here on, what is read belongs to this one.
    child_->collect_output();
    child_->box().begin_call();
    const CallLimits overrides = queue_.next_waiting().invocation.options.limits;
    if (overrides.any()) {
      const auto set = set_call_limits(overrides);
      if (set == LimitsSet::refused) continue;  // the call was completed unsent
      if (set == LimitsSet::child_lost) return;  // the call was completed; the child goes
    }
    auto& call = queue_.send_next(child_->pid(), limits_in_force(limits_, overrides));
    call.overrides_limits = overrides.any();
    child_->send(call.call.frame);  // kept by the call too, for a retry or a requeue
    if (const auto& on_start = call.call.invocation.options.on_start) {
      guarded("CallOptions::on_start", [&] { on_start(child_->pid()); });
    }
  }
}

Supervisor::LimitsSet Supervisor::set_call_limits(const CallLimits& overrides) {
  try {
    child_->box().set_call_limits(overrides);
    return LimitsSet::set;
  } catch (const LimitUnavailable& refused) {
    CallResult result = failed(FailureKind::limit_unavailable, refused.what());
    result.pid = child_->pid();
    result.containment = containment_;
    complete(queue_.take_next_waiting(), std::move(result));
    return LimitsSet::refused;
  } catch (const std::exception& error) {
    // The limits are neither the isolator's nor the call's: the child goes. The call fails
    // rather than wait for the next child, where the same could happen again (a death for
    // changed limits is never a restart storm, so nothing would end that).
    log().warn("pihost pid {}: {}; killing it", child_->pid(), error.what());
    CallResult result = failed(FailureKind::limit_unavailable,
                               std::string(error.what()) + "; the call was not run, and pihost (pid " +
                                   std::to_string(child_->pid()) + ") was killed and will be replaced");
    result.pid = child_->pid();
    result.containment = containment_;
    complete(queue_.take_next_waiting(), std::move(result));
    kill_child(ExitCause::limits_changed);
    return LimitsSet::child_lost;
  }
}

std::optional<std::string> Supervisor::library_change(const std::string& library) {
  if (library.empty() || library.front() != '/') return std::nullopt;  // pihost refuses it
  struct stat st {};
  const bool found = ::stat(library.c_str(), &st) == 0;
  const int error = errno;
  auto known = loaded_.find(library);
  if (known == loaded_.end()) {
    // Not sent to this child yet: what it is about to load (nothing, if it is missing: pihost
    // says library_not_found and keeps nothing).
    if (found) {
      loaded_.emplace(library, LibraryFile{st.st_dev, st.st_ino, st.st_size,
                                           std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                                           std::int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec});
    }
    return std::nullopt;
  }
  if (!found) return "it is gone (" + std::string(std::strerror(error)) + ")";
  const LibraryFile now{st.st_dev, st.st_ino, st.st_size,
                        std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec,
                        std::int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec};
  const LibraryFile& then = known->second;
  if (now == then) return std::nullopt;
  if (now.device != then.device || now.inode != then.inode) return std::string("replaced by a new file");
  if (now.size != then.size) {
    return "rewritten in place, " + std::to_string(then.size) + " -> " + std::to_string(now.size) + " bytes";
  }
  return std::string("rewritten in place (its modification or change time moved)");
}

void Supervisor::replace_for_changed_library(const std::string& library, const std::string& what) {
  log().info("{} changed since pihost pid {} loaded it ({}); replacing the child before the next call to it",
             library, child_->pid(), what);
  notifier_.event(LibraryChangedEvent{child_->pid(), library, what});
  pid_ = 0;
  heartbeat_timer_.cancel();
  answer_data_waiters();  // as after a death: the new child answers what is asked from now on
  retire(std::move(child_), ExitCause::library_changed);
  // Not the spare: the old child still runs while it stops, and its plugin could still write
  // into the spare's links directory (take_spare).
  start_child(Phase::starting);
}

bool Supervisor::limits_hold() {
  const auto changed = child_->box().changed_limits();
  if (changed.empty()) return true;
  log().warn("pihost pid {}: its limits changed between calls: {}; killing it (the next call runs on its "
             "replacement)",
             child_->pid(), describe_changes(changed));
  kill_child(ExitCause::limits_changed);
  return false;
}

void Supervisor::overran(ActiveCall& call, Failure why, ExitCause cause) {
  if (!child_) return;
  if (!call.cause) call.cause = std::move(why);
  kill_child(cause);
}

std::optional<std::chrono::microseconds> Supervisor::cpu_since_begin() {
  if (!child_ || !child_->ready()) return std::nullopt;
  return child_->box().cpu_since_begin();
}

void Supervisor::cancel(std::uint64_t id) {
  if (queue_.cancel(id) != CallQueue::Cancelled::in_flight || !child_) return;
  auto* call = queue_.find(id);
  if (!call->cause) call->cause = cancelled_failure(call->call.invocation, child_->pid());
  kill_child(ExitCause::cancelled);
}

void Supervisor::kill_child(ExitCause cause, StopSignal how) {
  if (!kill_cause_) kill_cause_ = cause;  // the first reason stands
  child_->stop(how);
}

// ---- data ----------------------------------------------------------------------------------

void Supervisor::set_data(const std::string& key, std::string value, std::string frame) {
  // A spare not ready yet is sent data_ when it is.
  if (spare_ && spare_->ready()) spare_->send(frame);
  if (child_ && child_->ready()) child_->send(std::move(frame));
  data_[key] = std::move(value);
}

void Supervisor::get_data(std::uint64_t id, const std::string& key, std::string frame, DataWaiter answer) {
  if (!child_ || !child_->ready()) {
    // No child: answer with what the next child will start with.
    auto found = data_.find(key);
    answer(found == data_.end() ? std::nullopt : std::optional<std::string>(found->second));
    return;
  }
  data_waiters_.emplace(id, std::move(answer));
  child_->send(std::move(frame));
}

void Supervisor::answer_data_waiters() {
  auto waiters = std::move(data_waiters_);
  data_waiters_.clear();
  for (auto& [id, waiter] : waiters) waiter(std::nullopt);
}

// ---- the child's reports -------------------------------------------------------------------

void Supervisor::on_child_message(ChildProcess& child, wire::Message message) {
  if (!is_current(child)) return;
  if (wire::sender_of(message) != wire::Sender::child) {
    child.fail_protocol("pihost sent " + std::string(wire::message_name(message)) +
                        ", which only the host may send");
    return;
  }
  if (std::holds_alternative<wire::Pong>(message)) {
    last_pong_ = std::chrono::steady_clock::now();
    return;
  }
  if (auto* crash = std::get_if<wire::Crash>(&message)) {
    // The child is dying of the crash; the last report (the one with names) is kept for its
    // exit, which follows. Its crash reporter answers no Ping: a report is its sign of life,
    // and the reporter's time is within the heartbeat's (crash_report_time).
    crash_ = to_crash_report(std::move(*crash));
    last_pong_ = std::chrono::steady_clock::now();
    return;
  }
  if (auto* service_call = std::get_if<wire::CallHost>(&message)) {
    // Answered `ended` unless the call it names is the one running, past its Started: a
    // thread the method left running asks for a call that is over.
    const auto* running = queue_.oldest();
    const bool call_running =
        !stopping() && running != nullptr && running->call.id == service_call->id && running->started;
    services_.request(child_, std::move(*service_call), call_running);
    return;
  }
  if (auto* value = std::get_if<wire::DataValue>(&message)) {
    auto waiter = data_waiters_.find(value->id);
    if (waiter == data_waiters_.end()) {
      child.fail_protocol("pihost answered GetData " + std::to_string(value->id) + ", which was never asked");
      return;
    }
    auto answer = std::move(waiter->second);
    data_waiters_.erase(waiter);
    answer(value->found ? std::optional<std::string>(std::move(value->value)) : std::nullopt);
    return;
  }
  // Replies come for the oldest call in flight: the child runs calls in order. Started
  // comes before the method runs; Failed may come without it (the library did not load).
  const auto for_oldest = [&](std::uint64_t id, std::optional<bool> must_be_started) -> ActiveCall* {
    auto* oldest = queue_.oldest();
    if (oldest && oldest->call.id == id && (!must_be_started || oldest->started == *must_be_started)) {
      return oldest;
    }
    child.fail_protocol("pihost sent " + std::string(wire::message_name(message)) + " for call " +
                        std::to_string(id) + ", but " +
                        (oldest ? "call " + std::to_string(oldest->call.id) + " is running"
                                : std::string("no call is running")));
    return nullptr;
  };
  if (const auto* started = std::get_if<wire::Started>(&message)) {
    if (auto* call = for_oldest(started->id, false)) call->started = true;
  } else if (auto* result = std::get_if<wire::Result>(&message)) {
    auto* call = for_oldest(result->id, true);
    if (!call) return;
    CallResult outcome;
    outcome.usage = to_usage(result->usage);
    // pihost refuses result bytes over the cap itself (Failed, result_too_large); a child
    // that sends more anyway (a plugin writing to the channel) fails the call the same way.
    if (const auto cap = result_bytes_cap(options_); result->bytes && result->bytes->size() > cap) {
      outcome.failure = failure_of(FailureKind::result_too_large,
                                   "pihost pid " + std::to_string(child.pid()) + " sent " +
                                       std::to_string(result->bytes->size()) + " result bytes, more than the cap of " +
                                       std::to_string(cap) + " bytes (Options::max_result_bytes); they were dropped");
    } else {
      outcome.code = result->code;
      outcome.bytes = std::move(result->bytes);
    }
    on_reply(child, *call, std::move(outcome));
  } else if (const auto* failure = std::get_if<wire::Failed>(&message)) {
    auto* call = for_oldest(failure->id, std::nullopt);
    if (!call) return;
    CallResult outcome;
    outcome.failure = failure_of(to_kind(failure->reason), std::move(failure->message));
    outcome.failure->exception_type = std::move(failure->exception_type);
    if (failure->signal != 0) outcome.failure->signal = failure->signal;
    // A program killed in the box by the kernel's OOM killer hit the box's memory limit
    // (pihost cannot tell that SIGKILL from another).
    const bool killed = failure->reason == wire::FailureReason::program_signalled ||
                        (failure->reason == wire::FailureReason::program_cpu_limit && failure->signal == SIGKILL);
    if (killed && child.box().oom_killed_since_begin()) {
      const int signal = failure->signal;
      outcome.failure = memory_limit_failure(call->call.invocation, call->limits.memory_bytes, containment_,
                                             call->call.invocation.options.limits.memory_bytes.has_value());
      outcome.failure->signal = signal;
    }
    outcome.usage = to_usage(failure->usage);
    on_reply(child, *call, std::move(outcome));
  }
}

void Supervisor::on_reply(ChildProcess& child, ActiveCall& call, CallResult outcome) {
  // The reply proves that what the call printed before it is in the pipes: collect it now,
  // so that it belongs to this call.
  child.collect_output();
  // The kernel's figures for the whole child, where the backend has them.
  const auto kernel = child.box().call_usage();
  if (kernel.cpu_user) outcome.usage.cpu_user = *kernel.cpu_user;
  if (kernel.cpu_sys) outcome.usage.cpu_sys = *kernel.cpu_sys;
  if (kernel.peak_memory_bytes) outcome.usage.peak_rss_bytes = *kernel.peak_memory_bytes;
  // A limit the plugin changed (it can, as root) would hold for every later call: read them
  // all again where the call that changed one can still be told, before its result goes out
  // (during a call with its own limits, CallOptions::limits, those are what must read).
  // A child no longer ready (being killed, or gone: its replies are read after its death) is
  // replaced anyway, and a gone child's limits cannot be read.
  const auto changed = child.ready() ? child.box().changed_limits() : std::vector<ChangedLimit>{};
  // Then the call's own limits go back to the isolator's (read back as they are written);
  // when they cannot, the child is killed below.
  bool restored = true;
  if (call.overrides_limits && child.ready() && changed.empty()) {
    try {
      child.box().restore_limits();
    } catch (const std::exception& error) {
      log().warn("pihost pid {}: {}; killing it (the next call runs on its replacement)", child.pid(),
                 error.what());
      restored = false;
    }
  }
  limits_read_at_reply_ = true;  // for the pump() below, which may send the next call at once
  // The child came back from the method: whatever it returned, it survived a call (unless
  // it is killed for its limits below).
  if (call.started && changed.empty()) budget_.on_call_succeeded();
  // A recorded cause stands (the deadline passed just as the reply came, say), except
  // shutdown: a call that finished during the graceful stop did finish.
  if (call.cause && call.cause->kind != FailureKind::shutdown) {
    outcome.code.reset();
    outcome.failure = call.cause;
  } else if (!changed.empty()) {
    outcome.code.reset();
    outcome.failure = limits_changed_failure(call.call.invocation, changed, child.pid());
  }
  if (!changed.empty()) {
    log().warn("pihost pid {}: its limits changed during call {}: {}; killing it", child.pid(), call.call.id,
               describe_changes(changed));
    kill_child(ExitCause::limits_changed);
  }
  if (!restored) kill_child(ExitCause::limits_changed);
  if (record_) record_->call_served();
  queue_.finish(call, std::move(outcome), containment_);
  pump();
  // After the reply went out: a spare's spawn may now delay at most the call just sent.
  post_spare_start();
}

void Supervisor::on_child_output(ChildProcess& child, OutputStream stream, std::string line) {
  notifier_.output(stream, line);
  if (!is_current(child)) return;
  if (auto* call = queue_.oldest()) call->output.add(stream, std::move(line));
}

void Supervisor::on_child_broken(ChildProcess& child, std::string reason) {
  if (!is_current(child)) return;
  log().warn("pihost pid {}: {}; killing it", child.pid(), reason);
  if (!kill_cause_) kill_cause_ = ExitCause::protocol_error;  // the child kills itself
  queue_.record_cause(failure_of(FailureKind::protocol_error, std::move(reason)));
}

// A call that asked for retries goes back to the front of the queue when its child died
// under it (a crash or an exit, not a deadline, a cancellation or a protocol error).
bool Supervisor::retry(ActiveCall& call, const Failure& failure) {
  const bool died = failure.kind == FailureKind::crashed || failure.kind == FailureKind::exited;
  if (!died || call.call.retries_left == 0) return false;
  log().info("call {} failed ({}); retrying it on a new child", call.call.id, to_string(failure.kind));
  PendingCall pending = queue_.take_back(call);
  --pending.retries_left;
  queue_.requeue(std::move(pending));
  return true;
}

void Supervisor::on_child_exit(ChildProcess& child, ExitStatus status) {
  if (retired_exit(child, status)) return;
  if (is_spare(child)) {
    // Killed from outside, or broken: nothing ran in it. Replaced when the next child
    // enters service, not now: a spare that cannot live would otherwise start in a loop.
    log().warn("the spare pihost pid {} died unused; a new one starts with the next child", child.pid());
    notifier_.event(ExitedEvent{child.pid(), status.exit_code, status.signal,
                                exit_cause(std::nullopt, false, false, status), std::nullopt});
    spare_.reset();
    spare_wanted_ = false;
    return;
  }
  if (replaced_ && &child == replaced_.get()) {
    // The child being replaced died while its replacement starts: nothing is left to keep
    // if the replacement fails, which then goes as any failed start.
    notifier_.event(ExitedEvent{child.pid(), status.exit_code, status.signal,
                                exit_cause(std::nullopt, false, false, status), std::nullopt});
    replaced_.reset();
    return;
  }
  if (!is_current(child)) return;
  pid_ = 0;
  const bool oom = child.box().oom_killed_since_begin();
  // A crash the isolator did not cause: where the crashed thread was, or why that is unknown.
  std::optional<CrashReport> crash = std::exchange(crash_, std::nullopt);
  if (!options_.crash_reports || !status.signal || !is_crash_signal(*status.signal) || kill_cause_) {
    crash.reset();
  } else if (!crash) {
    crash = missing_crash_report(*status.signal, options_.allow_core_dumps);
  }
  if (crash) {
    log().warn("pihost pid {} crashed: {}", child.pid(), to_string(*crash));
  }
  notifier_.event(ExitedEvent{child.pid(), status.exit_code, status.signal,
                              exit_cause(kill_cause_, stopping(), oom, status), crash});
  // Seen by the pool before the calls complete: it must not give the next call to a child
  // that is gone.
  if (!stopping()) enter(Phase::no_child);
  // Whether the method was running when the child died: that is the call's failure; a death
  // before any method ran (between calls, or loading a library) is the child's own.
  // A kill the caller asked for (a cancellation) is never a storm, even before the method;
  // nor is one for changed limits, which a method made (its call may be over already).
  DeathKind kind = kill_cause_ == ExitCause::cancelled || kill_cause_ == ExitCause::limits_changed
                       ? DeathKind::in_method
                       : DeathKind::before_method;
  kill_cause_.reset();
  while (auto* call = queue_.oldest()) {
    if (!call->started && !call->cause && !call->call.requeued) {
      // The child died before the call began (a thread of an earlier call crashed it, or a
      // library's initializers did): the method never ran, so it runs on the next child.
      log().info("pihost pid {} died before call {} started; it goes to a new child", child.pid(),
                 call->call.id);
      PendingCall pending = queue_.take_back(*call);
      pending.requeued = true;
      queue_.requeue(std::move(pending));
      continue;
    }
    if (call->started) kind = DeathKind::in_method;
    if (!call->cause && oom) {
      call->cause = memory_limit_failure(call->call.invocation, call->limits.memory_bytes, containment_,
                                         call->call.invocation.options.limits.memory_bytes.has_value());
    }
    Failure failure = call->cause ? *call->cause
                                  : death_failure(child.pid(), status, call->call.invocation, call->started);
    failure.exit_code = status.exit_code;
    failure.signal = status.signal;
    if (crash && !call->cause && failure.kind == FailureKind::crashed) attach_crash(failure, *crash);
    if (!retry(*call, failure)) {
      CallResult outcome;
      outcome.failure = std::move(failure);
      queue_.finish(*call, std::move(outcome), containment_);
    }
  }
  queue_.stop_watching();
  answer_data_waiters();
  previous_pid_ = child.pid();
  child_.reset();
  heartbeat_timer_.cancel();
  stop_timer_.cancel();
  if (stopping()) {
    if (retired_.empty()) finish_stop();
  } else {
    after_death(status, kind);
  }
}

bool Supervisor::retired_exit(ChildProcess& child, const ExitStatus& status) {
  const auto it = std::find_if(retired_.begin(), retired_.end(),
                               [&](const Retired& r) { return r.child.get() == &child; });
  if (it == retired_.end()) return false;
  notifier_.event(ExitedEvent{child.pid(), status.exit_code, status.signal, it->cause, std::nullopt});
  it->timer->cancel();
  retired_.erase(it);
  if (phase_ == Phase::stopping && !child_ && retired_.empty()) finish_stop();
  return true;
}

// ---- supervision ---------------------------------------------------------------------------

void Supervisor::after_death(const ExitStatus& status, DeathKind kind, const std::string& start_failure) {
  const bool abnormal = status.signal || !status.exit_code || *status.exit_code != 0;
  switch (options_.supervision.restart) {
    case RestartPolicy::never:
      enter_failed(
          "the child died and Options::supervision.restart is never; call reset() to start a new one");
      return;
    case RestartPolicy::on_failure:
      if (!abnormal) {
        enter(Phase::no_child);
        pump();  // a clean exit: the next call starts a child
        return;
      }
      break;
    case RestartPolicy::always: break;
  }
  const auto decision = budget_.on_death(kind);
  if (decision.give_up) {
    const auto restarts = decision.restarts_in_window;
    // The event comes once the state is failed: whoever it wakes must find it so.
    enter_failed("the child was restarted " + std::to_string(restarts) +
                     (restarts == 1 ? " time" : " times") + " within " +
                     std::to_string(options_.supervision.restart_window.count()) +
                     " ms without running a method (Options::supervision.max_restarts) and died again" +
                     (start_failure.empty() ? std::string() : " (the last restart could not start it: " + start_failure + ")") +
                     "; call reset() to try again",
                 [this, restarts] { notifier_.event(RestartLimitEvent{restarts}); });
    return;
  }
  restart_after(decision.delay, decision.attempt);
}

void Supervisor::restart_after(std::chrono::milliseconds delay, unsigned attempt) {
  log().info("restarting pihost (attempt {}) in {} ms", attempt, delay.count());
  last_attempt_ = RestartAttemptEvent{attempt, delay};
  notifier_.event(last_attempt_);
  enter(Phase::backoff);
  restart_timer_.expires_after(delay);
  restart_timer_.async_wait([this](error_code error) {
    if (error || phase_ != Phase::backoff) return;
    start_or_take_spare(Phase::restarting);
  });
}

void Supervisor::enter_failed(const std::string& reason, const std::function<void()>& announce) {
  log().error("isolator failed: {}", reason);
  failed_reason_ = reason;
  if (spare_) retire(std::move(spare_));  // a failed slot holds no process until reset()
  enter(Phase::failed);
  if (announce) announce();  // after the state changed, before the waiting calls fail
  queue_.fail_waiting(FailureKind::restart_limit, reason);
}

void Supervisor::reset() {
  if (phase_ != Phase::failed) return;
  budget_.reset();
  previous_pid_ = 0;
  start_child(Phase::starting);
}

// Pings the current child every interval; one that has not answered for the timeout is
// stopped or wedged (pihost answers during calls too): kill it, and let the supervisor
// replace it.
void Supervisor::heartbeat(std::uint64_t generation) {
  if (!child_ || !child_->ready() || generation != child_generation_) return;
  const auto& policy = options_.supervision;
  const auto silent = std::chrono::steady_clock::now() - last_pong_;
  if (silent > policy.heartbeat_timeout) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(silent);
    log().warn("pihost pid {} answered no heartbeat for {} ms (stopped or wedged); killing it", child_->pid(),
               ms.count());
    queue_.record_cause(heartbeat_failure(child_->pid(), ms));
    kill_child(ExitCause::heartbeat);
    return;
  }
  child_->send(wire::encode_frame(wire::Ping{++ping_seq_}));
  heartbeat_timer_.expires_after(policy.heartbeat_interval);
  heartbeat_timer_.async_wait([this, generation](error_code error) {
    if (!error) heartbeat(generation);
  });
}

// ---- stopping ------------------------------------------------------------------------------

void Supervisor::recycle() {
  if (phase_ != Phase::ready || !idle() || !child_ || !child_->ready()) return;
  kill_cause_.reset();
  replaced_ = std::move(child_);
  heartbeat_timer_.cancel();
  start_child(Phase::replacing);
}

void Supervisor::stop_idle() {
  if (phase_ == Phase::no_child && spare_ && idle()) {
    // The child exited on its own before: the spare is all this idle slot still holds.
    retire(std::move(spare_));
    return;
  }
  if (phase_ != Phase::ready || !idle() || !child_ || !child_->ready()) return;
  pid_ = 0;
  heartbeat_timer_.cancel();
  retire(std::move(child_));
  if (spare_) retire(std::move(spare_));  // an idle isolator holds no process
  enter(Phase::no_child);
}

// As stop_child(), for a child that is no longer current.
void Supervisor::retire(std::shared_ptr<ChildProcess> child, ExitCause cause) {
  if (child->exited()) return;  // its exit was reported already: nothing to stop or wait for
  child->close_channel();
  // Shared with its handlers: the entry (and its timer) goes as the child's exit is reported,
  // which may be just as the timer fires.
  auto timer = std::make_shared<asio::steady_timer>(executor_);
  const auto& policy = options_.shutdown;
  timer->expires_after(policy.graceful_timeout);
  timer->async_wait([weak = std::weak_ptr<ChildProcess>(child), policy, timer](error_code error) {
    auto living = weak.lock();
    if (error || !living || living->exited()) return;
    living->stop(StopSignal::ask);
    timer->expires_after(policy.terminate_timeout);
    timer->async_wait([weak, timer](error_code again) {
      if (auto still = weak.lock(); !again && still && !still->exited()) still->stop(StopSignal::force);
    });
  });
  retired_.push_back(Retired{std::move(child), std::move(timer), cause});
}

// Closes the channel (pihost exits when it reads end-of-file), then asks, then forces, each
// after Options::shutdown's timeouts.
void Supervisor::stop_child() {
  child_->close_channel();
  const auto& policy = options_.shutdown;
  stop_timer_.expires_after(policy.graceful_timeout);
  stop_timer_.async_wait([this, policy](error_code error) {
    if (error || !child_) return;
    log().warn("pihost pid {} did not exit within {} ms of the channel closing; SIGTERM", child_->pid(),
               policy.graceful_timeout.count());
    kill_child(ExitCause::requested, StopSignal::ask);
    stop_timer_.expires_after(policy.terminate_timeout);
    stop_timer_.async_wait([this, policy](error_code again) {
      if (again || !child_) return;
      log().warn("pihost pid {} ignored SIGTERM for {} ms; SIGKILL", child_->pid(),
                 policy.terminate_timeout.count());
      kill_child(ExitCause::requested);
    });
  });
}

void Supervisor::stop(std::function<void()> done) {
  if (phase_ == Phase::stopped) {
    done();
    return;
  }
  stop_done_.push_back(std::move(done));
  if (phase_ == Phase::stopping) return;
  enter(Phase::stopping);
  queue_.fail_waiting(FailureKind::shutdown, "the isolator shut down before the call was sent");
  queue_.record_cause_for_all(failure_of(FailureKind::shutdown, "the isolator shut down while the call was running"));
  answer_data_waiters();
  services_.end_all(child_);  // before the channel closes: the plugin's waiting threads go on
  restart_timer_.cancel();
  if (start_done_) std::exchange(start_done_, nullptr)("the isolator shut down while its child was starting");
  if (replaced_) retire(std::move(replaced_));
  if (spare_) retire(std::move(spare_));
  if (!child_) {
    if (retired_.empty()) finish_stop();
    return;
  }
  stop_child();
}

void Supervisor::finish_stop() {
  stop_timer_.cancel();
  restart_timer_.cancel();
  heartbeat_timer_.cancel();
  queue_.stop_watching();
  // Posted: the last child's box is removed as its exit report returns, and the backend
  // can only remove what holds the boxes after that.
  asio::post(executor_, [this] {
    launcher_.reset();  // removes the private directory and the backend's own cgroups
    record_.reset();    // the isolate is gone: so is its record
    enter(Phase::stopped);
    for (auto& done : std::exchange(stop_done_, {})) done();
  });
}

}  // namespace isolator::detail
