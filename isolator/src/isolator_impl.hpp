// The state behind a ProcessIsolator: its I/O thread, its private directory, its child,
// and the queue of calls.
//
// Threads: the public functions may be called from any thread; they hand their work to the
// I/O thread, where all the state below lives. Only `pid_` and `state_` are read elsewhere.
#pragma once

#include "call_output.hpp"
#include "child.hpp"
#include "notifier.hpp"
#include "private_directory.hpp"

#include <isolator/process_isolator.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace isolator {

class ProcessIsolator::Impl final : public detail::ChildListener {
 public:
  /// Validates the options, finds pihost, makes the private directory and starts the I/O
  /// thread. Throws OptionsError or StartError.
  explicit Impl(Options options);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  /// Starts the first child and waits for its handshake; throws StartError.
  void start();

  void submit(Invocation invocation, Handler handler);
  void set_data(const std::string& key, std::string value);
  std::optional<std::string> get_data(const std::string& key);

  int pid() const { return pid_.load(); }
  const std::string& containment() const { return containment_name_; }
  State state() const { return state_.load(); }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }
  bool on_io_thread() const { return io_.get_executor().running_in_this_thread(); }

  /// See ProcessIsolator::reset().
  void reset();

  /// Blocks until the child is stopped and every call completed; idempotent. Throws Error on
  /// the I/O thread, where it would wait for itself.
  void shutdown();

  /// For a ProcessIsolator destroyed on its own I/O thread (from one of its handlers):
  /// shuts down without waiting, and the I/O thread destroys `self` when it is done.
  static void release_from_own_thread(std::unique_ptr<Impl> self);

 private:
  struct PendingCall {
    std::uint64_t id = 0;
    Invocation invocation;  // without its args: they are in the frame
    // The Invoke, encoded (and size-checked) by the caller's thread; shared with the
    // child's write queue, and sent again as it is by a retry or a requeue.
    std::shared_ptr<const std::string> frame;
    Handler handler;
    // Keeps the handler's executor from running out of work while the call is pending.
    boost::asio::any_completion_executor work;
    bool requeued = false;  // sent once to a child that died before starting it
    unsigned retries_left = 0;
  };
  struct ActiveCall {
    PendingCall call;
    detail::CallOutput output;
    std::optional<Failure> cause;  // the first recorded reason the call will fail, if any
    int pid = 0;
    bool started = false;  // the child said Started: the call ran (or is running)
  };
  using DataWaiter = std::function<void(std::optional<std::string>)>;

  void run_io();

  // All below run on the I/O thread.
  void pump();
  void start_child();
  void start_failed(const std::string& message);
  void send_active(PendingCall call);
  void arm_call_timer(std::uint64_t id, std::chrono::milliseconds timeout);
  void watch_cpu(std::uint64_t id, std::chrono::microseconds limit);
  void record_cause(Failure failure);
  void finish_active(CallResult result);
  void fail_queued(FailureKind kind, const std::string& message);
  void answer_data_waiters();
  void complete(PendingCall call, CallResult result);
  void on_started(const wire::Started& started);
  void on_reply(detail::Child& child, std::uint64_t id, CallResult outcome);
  Failure death_failure(const detail::Child& child, const detail::ExitStatus& status) const;
  void emit(Event event) { notifier_.event(std::move(event)); }
  // Kills the current child, remembering why for its ExitedEvent (the first reason stands).
  void kill_child(ExitCause cause, int signal = SIGKILL);
  ExitCause exit_cause(detail::Child& child, const detail::ExitStatus& status) const;
  void cancel(std::uint64_t id);
  void heartbeat(std::uint64_t child_generation);
  void after_child_death(const detail::ExitStatus& status);
  void schedule_restart();
  void enter_failed(const std::string& reason);
  bool retry(const Failure& failure);
  void begin_shutdown();
  void finish_shutdown();
  bool is_current(const detail::Child& child) const { return child_.get() == &child; }

  void on_child_ready(detail::Child& child) override;
  void on_child_start_failed(detail::Child& child, std::string message) override;
  void on_child_message(detail::Child& child, wire::Message message) override;
  void on_child_output(detail::Child& child, OutputStream stream, std::string line) override;
  void on_child_broken(detail::Child& child, std::string reason) override;
  void on_child_exit(detail::Child& child, detail::ExitStatus status) override;

  const Options options_;
  const detail::Notifier notifier_;
  std::unique_ptr<detail::Backend> backend_;
  std::string containment_name_;
  detail::ChildSpec spec_;
  std::optional<detail::PrivateDirectory> directory_;

  mutable boost::asio::io_context io_;  // mutable: asking which thread runs it is a read
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer call_timer_;
  boost::asio::steady_timer cpu_timer_;  // watches the per-call CPU time limit
  boost::asio::steady_timer stop_timer_;
  boost::asio::steady_timer restart_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  std::thread thread_;

  // Where a caller's cancellation slot sends its cancellation: this isolator's I/O thread
  // while the isolator exists, nowhere after. Slot handlers share it and may outlive us.
  struct CancelRelay {
    explicit CancelRelay(Impl* impl) : target(impl) {}
    void cancel(std::uint64_t id);
    std::mutex mutex;
    Impl* target;  // null once the isolator is gone
  };
  std::shared_ptr<CancelRelay> cancel_relay_ = std::make_shared<CancelRelay>(this);
  // Guards `accepting_`, so that no work is posted once shutdown has begun.
  std::mutex accept_mutex_;
  bool accepting_ = true;
  std::once_flag shutdown_once_;

  std::atomic<int> pid_{0};
  std::atomic<State> state_{State::no_child};

  // I/O thread only.
  std::shared_ptr<detail::Child> child_;
  std::deque<PendingCall> queue_;
  std::optional<ActiveCall> active_;
  std::map<std::string, std::string> data_;  // replayed into every new child
  std::map<std::uint64_t, DataWaiter> data_waiters_;
  std::atomic<std::uint64_t> next_id_{1};  // call and GetData ids, from any thread
  bool shutting_down_ = false;
  // Supervision (I/O thread only).
  std::deque<std::chrono::steady_clock::time_point> restarts_;  // within the window
  bool restart_pending_ = false;  // a restart waits for its backoff
  bool restarting_ = false;       // the child starting is a restart
  int previous_pid_ = 0;          // the dead child a restart replaces
  RestartAttemptEvent last_attempt_;  // the restart under way, for its RestartedEvent
  bool failed_ = false;
  std::string failed_reason_;
  // Heartbeat (I/O thread only): which child it watches, and when it last answered.
  std::uint64_t child_generation_ = 0;
  std::optional<ExitCause> kill_cause_;  // why the isolator killed the current child
  std::uint64_t ping_seq_ = 0;
  std::chrono::steady_clock::time_point last_pong_{};
  std::optional<std::promise<void>> start_waiter_;
  std::optional<std::promise<void>> shutdown_waiter_;
  std::unique_ptr<Impl> orphaned_self_;  // set when destroyed from its own I/O thread
};

}  // namespace isolator
