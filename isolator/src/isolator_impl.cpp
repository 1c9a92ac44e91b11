#include "isolator_impl.hpp"

#include "call_check.hpp"
#include "completion.hpp"
#include "io_thread_mark.hpp"
#include "log.hpp"
#include "options_check.hpp"
#include "hardening.hpp"
#include "pihost_locator.hpp"

#include <isolator/errors.hpp>
#include <isolator/wire/codec.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <sched.h>

#include <csignal>
#include <cstdlib>
#include <random>
#include <set>

namespace isolator {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// True the first time this process asks about `text`.
bool said_for_the_first_time(const std::string& text) {
  static std::mutex mutex;
  static std::set<std::string> said;
  std::lock_guard lock(mutex);
  return said.insert(text).second;
}

using detail::failed;

Usage to_usage(const wire::Usage& u) {
  return Usage{std::chrono::microseconds(u.wall_us), std::chrono::microseconds(u.cpu_user_us),
               std::chrono::microseconds(u.cpu_sys_us), u.peak_rss_bytes};
}

FailureKind to_kind(wire::FailureReason reason) {
  switch (reason) {
    case wire::FailureReason::library_not_found: return FailureKind::library_not_found;
    case wire::FailureReason::not_a_library: return FailureKind::not_a_library;
    case wire::FailureReason::symbol_not_found: return FailureKind::symbol_not_found;
    case wire::FailureReason::threw: return FailureKind::threw;
    case wire::FailureReason::memory_limit: return FailureKind::memory_limit;
  }
  return FailureKind::protocol_error;
}

std::string describe_call(const Invocation& invocation) {
  return "'" + invocation.symbol + "' of " + invocation.library;
}

// pihost's own exit codes (pihost/main.cpp), which a plugin's exit() could also produce.
std::string exit_code_meaning(int code) {
  switch (code) {
    case 69: return "; pihost exits with 69 when it loses the channel to the host";
    case 70: return "; pihost exits with 70 when it cannot send a call's reply (see its stderr)";
    case 76: return "; pihost exits with 76 when the host's messages break the protocol";
    default: return "; a method must return, not call exit()";
  }
}

}  // namespace

ProcessIsolator::Impl::Impl(Options options)
    : options_(detail::validated(options)),
      notifier_(options_),
      work_(asio::make_work_guard(io_)),
      call_timer_(io_),
      cpu_timer_(io_),
      stop_timer_(io_),
      restart_timer_(io_),
      heartbeat_timer_(io_) {
  spec_.pihost = detail::locate_pihost(options_.pihost_path);
  detail::sweep_stale_once(detail::PrivateDirectory::base_directory(), options_.cgroup_v2_base);
  std::string why;
  backend_ = detail::select_backend(options_.containment, options_.limits, options_.cgroup_v2_base, why);
  containment_name_ = std::string(to_string(backend_->kind()));
  spec_.backend = backend_.get();
  spec_.limits = detail::enforceable_limits(options_, backend_->check());
  // A fallback from a stronger backend is worth a line at the default level, once per
  // process and reason (a pool, or a host with many isolators, would repeat it for each);
  // the usual choice is not.
  const bool fallback = why.find("refused") != std::string::npos || why.find("cannot enforce") != std::string::npos;
  if (fallback && said_for_the_first_time(why)) {
    detail::log().info("containment: {} ({})", containment_name_, why);
  } else {
    detail::log().debug("containment: {} ({})", containment_name_, why);
  }
  directory_.emplace();
  spec_.directory = directory_->path();
  spec_.environment = detail::child_environment(options_);
  spec_.start_timeout = options_.start_timeout;
  spec_.max_frame_bytes = options_.max_frame_bytes;
  spec_.allow_core_dumps = options_.allow_core_dumps;
  detail::require_hardening(options_.hardening);
  spec_.hardening = detail::plan_hardening(options_.hardening);
  spec_.max_line_bytes = options_.max_line_bytes;
  // The child is spawned from this thread, and PR_SET_PDEATHSIG follows the spawning
  // *thread*: it lives exactly as long as the isolator.
  thread_ = std::thread([this] {
    detail::on_an_isolator_io_thread = true;
    run_io();
    if (orphaned_self_) {  // destroyed from this thread: finish the job here
      thread_.detach();
      const std::unique_ptr<Impl> self = std::move(orphaned_self_);
    }
  });
}

void ProcessIsolator::Impl::run_io() {
  // A handler that throws must not take the isolator (or the process) down with it.
  while (true) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      detail::log().error("an isolator I/O handler threw (carrying on): {}", e.what());
    } catch (...) {
      detail::log().error("an isolator I/O handler threw a non-std::exception (carrying on)");
    }
  }
}

ProcessIsolator::Impl::~Impl() {
  shutdown();
  std::lock_guard lock(cancel_relay_->mutex);  // a caller's slot may still cancel: into nothing
  cancel_relay_->target = nullptr;
}

void ProcessIsolator::Impl::start() {
  std::promise<void> started;
  auto future = started.get_future();
  asio::post(io_, [this, started = std::move(started)]() mutable {
    start_waiter_.emplace(std::move(started));
    start_child();
  });
  future.get();  // rethrows the StartError
}

// ---- calls -------------------------------------------------------------------------------

void ProcessIsolator::Impl::submit(Invocation invocation, Handler handler) {
  detail::check_sendable(invocation, options_.max_frame_bytes);
  const std::uint64_t id = next_id_++;
  // The arguments move into the frame: it is all a retry or a requeue needs (the same id
  // gives the same bytes), and a large argument is not kept twice.
  auto frame = std::make_shared<const std::string>(wire::encode_frame(
      wire::Invoke{id, invocation.library, invocation.symbol, std::move(invocation.args)}));
  invocation.args.clear();
  auto work = asio::prefer(asio::get_associated_executor(handler, io_.get_executor()),
                           asio::execution::outstanding_work.tracked);
  auto slot = asio::get_associated_cancellation_slot(handler);
  const unsigned retries = invocation.options.retries;
  PendingCall call{id, std::move(invocation), std::move(frame), std::move(handler), std::move(work),
                   false, retries};
  std::lock_guard lock(accept_mutex_);
  if (!accepting_) throw ShutDownError("the isolator is shut down; create a new one to make calls");
  // Per-operation cancellation (asio::bind_cancellation_slot, a coroutine's cancellation...):
  // a queued call is dropped, a running one kills its child, which the supervisor replaces.
  // Installed here, on the initiating thread, once the call is sure to be accepted; removed
  // on the handler's executor as the call completes (Asio's slots are not thread-safe).
  if (slot.is_connected()) {
    slot.assign([relay = cancel_relay_, id](asio::cancellation_type) { relay->cancel(id); });
  }
  asio::post(io_, [this, call = std::move(call)]() mutable {
    if (shutting_down_) {
      complete(std::move(call),
               failed(FailureKind::shutdown, "the isolator shut down before the call was sent"));
      return;
    }
    if (failed_) {
      complete(std::move(call), failed(FailureKind::restart_limit, failed_reason_));
      return;
    }
    queue_.push_back(std::move(call));
    pump();
  });
}

void ProcessIsolator::Impl::pump() {
  if (active_ || queue_.empty() || shutting_down_) return;
  if (!child_) {
    if (restart_pending_ || failed_) return;  // a restart waits for its backoff
    start_child();  // no child (it exited normally): the next call gets a fresh one
    return;
  }
  if (!child_->ready()) return;  // starting; on_child_ready pumps again
  PendingCall call = std::move(queue_.front());
  queue_.pop_front();
  send_active(std::move(call));
}

void ProcessIsolator::Impl::send_active(PendingCall call) {
  const auto& options = call.invocation.options;
  const auto timeout = options.timeout ? options.timeout : options_.call_timeout;
  const auto id = call.id;
  auto frame = call.frame;  // kept by the call too, for a retry or a requeue
  // What the child wrote before this call is sent belongs to no call (a thread an earlier
  // call left running, say); from here on, what is read belongs to this one.
  child_->collect_output();
  child_->box().begin_call();
  active_.emplace(ActiveCall{std::move(call), detail::CallOutput(options_.max_output_bytes_per_call),
                             std::nullopt, child_->pid(), false});
  child_->send(std::move(frame));
  if (timeout) arm_call_timer(id, *timeout);
  if (spec_.limits.cpu_time_per_call) watch_cpu(id, *spec_.limits.cpu_time_per_call);
}

void ProcessIsolator::Impl::arm_call_timer(std::uint64_t id, std::chrono::milliseconds timeout) {
  call_timer_.expires_after(timeout);
  call_timer_.async_wait([this, id, timeout](error_code error) {
    if (error || !active_ || active_->call.id != id || !child_) return;
    record_cause(Failure{FailureKind::timeout,
                         "the call to " + describe_call(active_->call.invocation) +
                             " exceeded its timeout of " + std::to_string(timeout.count()) +
                             " ms; pihost (pid " + std::to_string(child_->pid()) + ") was killed",
                         std::nullopt, std::nullopt});
    kill_child(ExitCause::timeout);
  });
}

// Checks the call's CPU time when, at full speed on every CPU the child may use, it could
// first have reached the limit; so the check is cheap and late by little.
void ProcessIsolator::Impl::watch_cpu(std::uint64_t id, std::chrono::microseconds limit) {
  const auto used = child_->box().cpu_since_begin();
  if (used >= limit) {
    record_cause(Failure{FailureKind::cpu_limit,
                         "the call to " + describe_call(active_->call.invocation) + " used " +
                             std::to_string(used.count() / 1000) + " ms of CPU time, past its limit of " +
                             std::to_string(limit.count() / 1000) + " ms; pihost (pid " +
                             std::to_string(child_->pid()) + ") was killed",
                         std::nullopt, std::nullopt});
    kill_child(ExitCause::cpu_limit);
    return;
  }
  const auto cpus = std::max<std::size_t>(1, spec_.limits.cpu_affinity.empty()
                                                 ? std::thread::hardware_concurrency()
                                                 : spec_.limits.cpu_affinity.size());
  const auto wait = std::max<std::chrono::microseconds>(std::chrono::milliseconds(2),
                                                       (limit - used) / static_cast<long>(cpus));
  cpu_timer_.expires_after(wait);
  cpu_timer_.async_wait([this, id, limit](error_code error) {
    if (error || !active_ || active_->call.id != id || !child_ || !child_->ready()) return;
    watch_cpu(id, limit);
  });
}

void ProcessIsolator::Impl::record_cause(Failure failure) {
  if (active_ && !active_->cause) active_->cause = std::move(failure);
}

void ProcessIsolator::Impl::finish_active(CallResult result) {
  call_timer_.cancel();
  cpu_timer_.cancel();
  result.containment = containment_name_;
  active_->output.move_into(result);
  result.pid = active_->pid;
  PendingCall call = std::move(active_->call);
  active_.reset();
  complete(std::move(call), std::move(result));
}

void ProcessIsolator::Impl::fail_queued(FailureKind kind, const std::string& message) {
  auto queued = std::move(queue_);
  queue_.clear();
  for (auto& call : queued) complete(std::move(call), failed(kind, message));
}

void ProcessIsolator::Impl::complete(PendingCall call, CallResult result) {
  // The call is over: deliver() also removes its cancellation handler from the caller's slot.
  detail::deliver(std::move(call.work), std::move(call.handler), std::move(result),
                  detail::Cancellation::installed);
}

void ProcessIsolator::Impl::kill_child(ExitCause cause, int signal) {
  if (!kill_cause_) kill_cause_ = cause;
  child_->kill(signal);
}

ExitCause ProcessIsolator::Impl::exit_cause(detail::Child& child,
                                            const detail::ExitStatus& status) const {
  if (kill_cause_) return *kill_cause_;
  if (shutting_down_) return ExitCause::requested;
  if (child.box().oom_killed_since_begin()) return ExitCause::memory_limit;
  return status.signal ? ExitCause::crashed : ExitCause::exited;
}

// ---- data --------------------------------------------------------------------------------

void ProcessIsolator::Impl::set_data(const std::string& key, std::string value) {
  std::string frame = wire::encode_frame(wire::SetData{key, value});
  if (frame.size() - wire::frame_header_bytes > options_.max_frame_bytes) {
    throw Error("set_data(\"" + key.substr(0, 64) + "\"): a value of " +
                std::to_string(value.size()) + " bytes does not fit in Options::max_frame_bytes (" +
                std::to_string(options_.max_frame_bytes) + ")");
  }
  std::lock_guard lock(accept_mutex_);
  if (!accepting_) throw ShutDownError("the isolator is shut down; set_data is not possible");
  asio::post(io_, [this, key, value = std::move(value), frame = std::move(frame)]() mutable {
    if (child_ && child_->ready()) child_->send(std::move(frame));
    data_[key] = std::move(value);
  });
}

std::optional<std::string> ProcessIsolator::Impl::get_data(const std::string& key) {
  if (on_io_thread()) {
    throw Error("get_data() was called from the isolator's own I/O thread; it would wait for itself");
  }
  const std::uint64_t id = next_id_++;
  std::string frame = wire::encode_frame(wire::GetData{id, key});
  if (frame.size() - wire::frame_header_bytes > options_.max_frame_bytes) {
    throw Error("get_data: a key of " + std::to_string(key.size()) +
                " bytes does not fit in Options::max_frame_bytes");
  }
  auto answer = std::make_shared<std::promise<std::optional<std::string>>>();
  auto future = answer->get_future();
  {
    std::lock_guard lock(accept_mutex_);
    if (!accepting_) throw ShutDownError("the isolator is shut down; get_data is not possible");
    asio::post(io_, [this, id, key, frame = std::move(frame), answer]() mutable {
      if (!child_ || !child_->ready()) {
        // No child: answer with what the next child will start with.
        auto found = data_.find(key);
        answer->set_value(found == data_.end() ? std::nullopt
                                               : std::optional<std::string>(found->second));
        return;
      }
      data_waiters_.emplace(id, [answer](std::optional<std::string> v) { answer->set_value(std::move(v)); });
      child_->send(std::move(frame));
    });
  }
  return future.get();
}

void ProcessIsolator::Impl::answer_data_waiters() {
  auto waiters = std::move(data_waiters_);
  data_waiters_.clear();
  for (auto& [id, waiter] : waiters) waiter(std::nullopt);
}

// ---- the child's reports ----------------------------------------------------------------

void ProcessIsolator::Impl::start_child() {
  state_ = State::no_child;
  try {
    child_ = detail::Child::start(io_, spec_, *this);
  } catch (const std::exception& e) {
    child_.reset();
    start_failed(e.what());
  }
}

void ProcessIsolator::Impl::start_failed(const std::string& message) {
  detail::log().error("cannot start pihost: {}", message);
  emit(StartFailedEvent{message});
  if (start_waiter_) {
    start_waiter_->set_exception(std::make_exception_ptr(StartError(message)));
    start_waiter_.reset();
  }
  if (restarting_ && !shutting_down_) {
    // A failed restart counts as one: the supervisor tries again, within its limits.
    child_.reset();
    schedule_restart();
    return;
  }
  fail_queued(FailureKind::start_failed, "no child could be started: " + message);
}

void ProcessIsolator::Impl::on_child_ready(detail::Child& child) {
  if (!is_current(child)) return;
  pid_ = child.pid();
  state_ = State::ready;
  for (const auto& [key, value] : data_) child.send(wire::encode_frame(wire::SetData{key, value}));
  detail::log().debug("pihost pid {} started ({})", child.pid(), spec_.pihost.string());
  emit(StartedEvent{child.pid(), containment_name_});
  if (restarting_) {
    restarting_ = false;
    emit(RestartedEvent{previous_pid_, child.pid(), last_attempt_.attempt, last_attempt_.delay});
  }
  if (start_waiter_) {
    start_waiter_->set_value();
    start_waiter_.reset();
  }
  last_pong_ = std::chrono::steady_clock::now();
  if (options_.supervision.heartbeat_interval.count() > 0) heartbeat(++child_generation_);
  pump();
}

// Pings the current child every interval; one that has not answered for the timeout is
// stopped or wedged (pihost answers during calls too): kill it, and
// let the supervisor replace it.
void ProcessIsolator::Impl::heartbeat(std::uint64_t generation) {
  if (!child_ || !child_->ready() || generation != child_generation_) return;
  const auto& policy = options_.supervision;
  const auto silent = std::chrono::steady_clock::now() - last_pong_;
  if (silent > policy.heartbeat_timeout) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(silent).count();
    detail::log().warn("pihost pid {} answered no heartbeat for {} ms (stopped or wedged); killing it",
                       child_->pid(), ms);
    record_cause(Failure{FailureKind::timeout,
                         "pihost (pid " + std::to_string(child_->pid()) + ") answered no heartbeat for " +
                             std::to_string(ms) + " ms (stopped or wedged) and was killed",
                         std::nullopt, std::nullopt});
    kill_child(ExitCause::heartbeat);
    return;
  }
  child_->send(wire::encode_frame(wire::Ping{++ping_seq_}));
  heartbeat_timer_.expires_after(policy.heartbeat_interval);
  heartbeat_timer_.async_wait([this, generation](error_code error) {
    if (!error) heartbeat(generation);
  });
}

void ProcessIsolator::Impl::on_child_start_failed(detail::Child& child, std::string message) {
  if (is_current(child)) start_failed(message);
}

void ProcessIsolator::Impl::on_child_message(detail::Child& child, wire::Message message) {
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
  if (auto* value = std::get_if<wire::DataValue>(&message)) {
    auto waiter = data_waiters_.find(value->id);
    if (waiter == data_waiters_.end()) {
      child.fail_protocol("pihost answered GetData " + std::to_string(value->id) +
                          ", which was never asked");
      return;
    }
    auto answer = std::move(waiter->second);
    data_waiters_.erase(waiter);
    answer(value->found ? std::optional<std::string>(std::move(value->value)) : std::nullopt);
    return;
  }
  const auto for_active = [&](std::uint64_t id, bool must_be_started) {
    if (active_ && active_->call.id == id && active_->started == must_be_started) return true;
    child.fail_protocol("pihost sent " + std::string(wire::message_name(message)) +
                        " for call " + std::to_string(id) + ", but " +
                        (active_ ? "call " + std::to_string(active_->call.id) + " is running"
                                 : std::string("no call is running")));
    return false;
  };
  if (const auto* started = std::get_if<wire::Started>(&message)) {
    if (!for_active(started->id, false)) return;
    active_->started = true;
  } else if (const auto* result = std::get_if<wire::Result>(&message)) {
    if (!for_active(result->id, true)) return;
    CallResult outcome;
    outcome.code = result->code;
    outcome.usage = to_usage(result->usage);
    on_reply(child, result->id, std::move(outcome));
  } else if (const auto* failure = std::get_if<wire::Failed>(&message)) {
    if (!for_active(failure->id, true)) return;
    CallResult outcome;
    outcome.failure = Failure{to_kind(failure->reason), failure->message, std::nullopt, std::nullopt};
    outcome.usage = to_usage(failure->usage);
    on_reply(child, failure->id, std::move(outcome));
  }
}

void ProcessIsolator::Impl::on_reply(detail::Child& child, std::uint64_t, CallResult outcome) {
  // The reply proves that what the call printed before it is in the pipes: collect it now,
  // so that it belongs to this call.
  child.collect_output();
  // The kernel's figures for the whole child, where the backend has them.
  const auto kernel = child.box().call_usage();
  if (kernel.cpu_user) outcome.usage.cpu_user = *kernel.cpu_user;
  if (kernel.cpu_sys) outcome.usage.cpu_sys = *kernel.cpu_sys;
  if (kernel.peak_memory_bytes) outcome.usage.peak_rss_bytes = *kernel.peak_memory_bytes;
  // A recorded cause stands (the deadline passed just as the reply came, say), except
  // shutdown: a call that finished during the graceful stop did finish.
  if (active_->cause && active_->cause->kind != FailureKind::shutdown) {
    outcome.code.reset();
    outcome.failure = active_->cause;
  }
  finish_active(std::move(outcome));
  pump();
}

void ProcessIsolator::Impl::on_child_output(detail::Child& child, OutputStream stream,
                                            std::string line) {
  notifier_.output(stream, line);
  if (is_current(child) && active_) active_->output.add(stream, std::move(line));
}

void ProcessIsolator::Impl::on_child_broken(detail::Child& child, std::string reason) {
  if (!is_current(child)) return;
  detail::log().warn("pihost pid {}: {}; killing it", child.pid(), reason);
  if (!kill_cause_) kill_cause_ = ExitCause::protocol_error;  // the Child kills itself
  record_cause(Failure{FailureKind::protocol_error, std::move(reason), std::nullopt, std::nullopt});
}

Failure ProcessIsolator::Impl::death_failure(const detail::Child& child,
                                             const detail::ExitStatus& status) const {
  const std::string pihost = "pihost (pid " + std::to_string(child.pid()) + ")";
  const std::string running = " while running " + describe_call(active_->call.invocation);
  Failure failure;
  failure.exit_code = status.exit_code;
  failure.signal = status.signal;
  if (status.signal) {
    failure.kind = FailureKind::crashed;
    failure.message = pihost + " was killed by " + signal_name(*status.signal) + running;
  } else if (status.exit_code) {
    failure.kind = FailureKind::exited;
    failure.message = "the process exited with code " + std::to_string(*status.exit_code) +
                      running + " (" + pihost + ")" + exit_code_meaning(*status.exit_code);
  } else {
    failure.kind = FailureKind::crashed;
    failure.message = pihost + " ended" + running +
                      ", but its exit status could not be read: the application ignores "
                      "SIGCHLD or reaps children it did not start";
  }
  return failure;
}

void ProcessIsolator::Impl::on_child_exit(detail::Child& child, detail::ExitStatus status) {
  if (!is_current(child)) return;
  pid_ = 0;
  if (!shutting_down_) state_ = State::no_child;
  emit(ExitedEvent{child.pid(), status.exit_code, status.signal, exit_cause(child, status)});
  kill_cause_.reset();
  if (active_) {
    if (!active_->started && !active_->cause && !active_->call.requeued) {
      // The child died before the call began (a thread of an earlier call crashed it, say):
      // the method never ran, so it runs on the next child instead.
      detail::log().info("pihost pid {} died before call {} started; it goes to a new child",
                         child.pid(), active_->call.id);
      call_timer_.cancel();
      PendingCall call = std::move(active_->call);
      call.requeued = true;
      active_.reset();
      queue_.push_front(std::move(call));
    } else {
      if (!active_->cause && child.box().oom_killed_since_begin()) {
        record_cause(Failure{FailureKind::memory_limit,
                             "the kernel's OOM killer stopped the call to " +
                                 describe_call(active_->call.invocation) +
                                 ": the child reached its memory limit of " +
                                 std::to_string(spec_.limits.memory_bytes.value_or(0)) + " bytes (" +
                                 containment_name_ + ")",
                             std::nullopt, std::nullopt});
      }
      Failure failure = active_->cause ? *active_->cause : death_failure(child, status);
      failure.exit_code = status.exit_code;
      failure.signal = status.signal;
      if (!retry(failure)) {
        CallResult outcome;
        outcome.failure = std::move(failure);
        finish_active(std::move(outcome));
      }
    }
  }
  answer_data_waiters();
  previous_pid_ = child.pid();
  child_.reset();
  if (shutting_down_) {
    finish_shutdown();
  } else {
    after_child_death(status);
  }
}

void ProcessIsolator::Impl::CancelRelay::cancel(std::uint64_t id) {
  std::lock_guard lock(mutex);
  if (target != nullptr) asio::post(target->io_, [impl = target, id] { impl->cancel(id); });
}

void ProcessIsolator::Impl::cancel(std::uint64_t id) {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->id != id) continue;
    PendingCall call = std::move(*it);
    queue_.erase(it);
    complete(std::move(call), failed(FailureKind::cancelled, "the caller cancelled the call before it was sent"));
    return;
  }
  if (!active_ || active_->call.id != id || !child_) return;  // already over
  record_cause(Failure{FailureKind::cancelled,
                       "the caller cancelled the call to " + describe_call(active_->call.invocation) +
                           " while it ran; pihost (pid " + std::to_string(child_->pid()) +
                           ") was killed and will be replaced",
                       std::nullopt, std::nullopt});
  kill_child(ExitCause::cancelled);
}

// A call that asked for retries goes back to the front of the queue when its child died
// under it (a crash or an exit, not a deadline, a cancellation or a protocol error).
bool ProcessIsolator::Impl::retry(const Failure& failure) {
  const bool died = failure.kind == FailureKind::crashed || failure.kind == FailureKind::exited;
  if (!died || active_->call.retries_left == 0) return false;
  detail::log().info("call {} failed ({}); retrying it on a new child", active_->call.id,
                     to_string(failure.kind));
  call_timer_.cancel();
  cpu_timer_.cancel();
  PendingCall call = std::move(active_->call);
  --call.retries_left;
  active_.reset();
  queue_.push_front(std::move(call));
  return true;
}

void ProcessIsolator::Impl::after_child_death(const detail::ExitStatus& status) {
  const bool abnormal = status.signal || !status.exit_code || *status.exit_code != 0;
  switch (options_.supervision.restart) {
    case RestartPolicy::never:
      enter_failed("the child died and Options::supervision.restart is never; call reset() "
                   "to start a new one");
      return;
    case RestartPolicy::on_failure:
      if (!abnormal) {
        pump();  // a clean exit: the next call starts a child
        return;
      }
      break;
    case RestartPolicy::always: break;
  }
  schedule_restart();
}

void ProcessIsolator::Impl::schedule_restart() {
  const auto& policy = options_.supervision;
  const auto now = std::chrono::steady_clock::now();
  while (!restarts_.empty() && now - restarts_.front() > policy.restart_window) restarts_.pop_front();
  if (restarts_.size() >= policy.max_restarts) {
    emit(RestartLimitEvent{static_cast<unsigned>(restarts_.size())});
    enter_failed("the child was restarted " + std::to_string(restarts_.size()) + " times within " +
                 std::to_string(policy.restart_window.count()) +
                 " ms (Options::supervision.max_restarts) and died again; call reset() to try again");
    return;
  }
  restarts_.push_back(now);
  const auto attempt = static_cast<unsigned>(restarts_.size());
  // Doubling per restart in the window, capped, with +-20 % jitter so that many isolators
  // restarting together do not stay in step.
  const auto doubled = policy.backoff_initial * (1LL << std::min(attempt - 1, 20U));
  const auto capped = std::min<std::chrono::milliseconds>(doubled, policy.backoff_max);
  thread_local std::minstd_rand random(std::random_device{}());
  const double jitter = std::uniform_real_distribution<double>(0.8, 1.2)(random);
  const auto delay = std::chrono::milliseconds(static_cast<long long>(static_cast<double>(capped.count()) * jitter));
  detail::log().info("restarting pihost (attempt {} within the window) in {} ms", attempt, delay.count());
  last_attempt_ = RestartAttemptEvent{attempt, delay};
  emit(last_attempt_);
  restart_pending_ = true;
  restart_timer_.expires_after(delay);
  restart_timer_.async_wait([this](error_code error) {
    restart_pending_ = false;
    if (error || shutting_down_ || failed_) return;
    restarting_ = true;
    start_child();
  });
}

void ProcessIsolator::Impl::enter_failed(const std::string& reason) {
  detail::log().error("isolator failed: {}", reason);
  failed_ = true;
  failed_reason_ = reason;
  restarting_ = false;
  state_ = State::failed;
  fail_queued(FailureKind::restart_limit, reason);
}

void ProcessIsolator::Impl::reset() {
  std::lock_guard lock(accept_mutex_);
  if (!accepting_) throw ShutDownError("the isolator is shut down; create a new one");
  // Seen at once by state() (a pool decides by it); the work is done on the I/O thread,
  // before any call made after this one.
  State failed = State::failed;
  state_.compare_exchange_strong(failed, State::no_child);
  asio::post(io_, [this] {
    if (!failed_ || shutting_down_) return;
    failed_ = false;
    restarts_.clear();
    previous_pid_ = 0;
    state_ = State::no_child;
    start_child();
  });
}

// ---- shutdown ----------------------------------------------------------------------------

void ProcessIsolator::Impl::shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (on_io_thread()) {
      throw Error("shutdown() was called from the isolator's own I/O thread (a callback or a "
                  "completion handler), where it would wait for itself");
    }
    std::promise<void> done;
    auto future = done.get_future();
    {
      std::lock_guard lock(accept_mutex_);
      accepting_ = false;
      asio::post(io_, [this, &done] {
        shutdown_waiter_.emplace(std::move(done));
        begin_shutdown();
      });
    }
    future.get();
    work_.reset();
    io_.stop();
    thread_.join();
  });
}

void ProcessIsolator::Impl::release_from_own_thread(std::unique_ptr<Impl> self) {
  Impl* impl = self.get();
  std::call_once(impl->shutdown_once_, [impl, &self] {
    std::lock_guard lock(impl->accept_mutex_);
    impl->accepting_ = false;
    impl->orphaned_self_ = std::move(self);
    // Posted, not run here: the caller is inside one of this isolator's handlers.
    asio::post(impl->io_, [impl] { impl->begin_shutdown(); });
  });
}

void ProcessIsolator::Impl::begin_shutdown() {
  shutting_down_ = true;
  state_ = State::shutting_down;
  fail_queued(FailureKind::shutdown, "the isolator shut down before the call was sent");
  record_cause(Failure{FailureKind::shutdown, "the isolator shut down while the call was running",
                       std::nullopt, std::nullopt});
  answer_data_waiters();
  if (!child_) {
    finish_shutdown();
    return;
  }
  child_->close_channel();
  const auto& policy = options_.shutdown;
  stop_timer_.expires_after(policy.graceful_timeout);
  stop_timer_.async_wait([this, policy](error_code error) {
    if (error || !child_) return;
    detail::log().warn("pihost pid {} did not exit within {} ms of the channel closing; SIGTERM",
                       child_->pid(), policy.graceful_timeout.count());
    kill_child(ExitCause::requested, SIGTERM);
    stop_timer_.expires_after(policy.terminate_timeout);
    stop_timer_.async_wait([this, policy](error_code again) {
      if (again || !child_) return;
      detail::log().warn("pihost pid {} ignored SIGTERM for {} ms; SIGKILL", child_->pid(),
                         policy.terminate_timeout.count());
      kill_child(ExitCause::requested);
    });
  });
}

void ProcessIsolator::Impl::finish_shutdown() {
  stop_timer_.cancel();
  restart_timer_.cancel();
  heartbeat_timer_.cancel();
  call_timer_.cancel();
  cpu_timer_.cancel();
  directory_.reset();  // removes the private directory
  state_ = State::shut_down;
  if (shutdown_waiter_) {
    shutdown_waiter_->set_value();
    shutdown_waiter_.reset();
  }
  if (orphaned_self_) {  // nobody waits: let run_io return, and the thread destroys *this
    work_.reset();
    io_.stop();
  }
}

}  // namespace isolator
