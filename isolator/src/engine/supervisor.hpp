// The supervisor of one child slot: starts and stops pihost children as asynchronous
// operations on its executor, feeds them calls from its CallQueue, watches them (heartbeat,
// deadlines through the queue, their limits read again at every call boundary), records why
// it killed one, replays set_data into each new child, and asks the RestartBudget whether and
// when to replace a dead one. It owns the slot's State: one enum, changed in one function.
//
// A ProcessIsolator is one Supervisor on its own I/O thread; an IsolatorPool runs N of them,
// spread over the pool's I/O threads. Nothing here blocks.
//
// Threads: pid(), state() and next_id() may be called from any thread. Everything else must
// be called on the executor given to the constructor, and every callback (Observer, the
// start and stop continuations) is made there.
#pragma once

#include "../notifier.hpp"
#include "../platform/child_process.hpp"
#include "../platform/records.hpp"
#include "call_queue.hpp"
#include "restart_budget.hpp"
#include "service_calls.hpp"

#include <isolator/options.hpp>
#include <isolator/process_isolator.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace isolator::detail {

class Supervisor final : public ChildListener, private CallQueue::Runner {
 public:
  /// Told of what an owner that schedules calls (the pool) must know, on the executor.
  class Observer {
   public:
    /// The slot's State changed to `state`.
    virtual void on_state(Supervisor& supervisor, State state) = 0;
    /// A dead child was replaced by a running one.
    virtual void on_restarted(Supervisor& supervisor) = 0;
    /// recycle() replaced the child (a replacement that could not start does not count).
    virtual void on_recycled(Supervisor& supervisor) = 0;

   protected:
    ~Observer() = default;
  };

  using DataWaiter = std::function<void(std::optional<std::string>)>;
  /// Empty on success, else why the child could not start.
  using StartDone = std::function<void(std::optional<std::string> error)>;

  /// `options` must be validated; `launcher` makes the children. Starts nothing.
  Supervisor(const boost::asio::any_io_executor& executor, const Options& options,
             std::unique_ptr<Launcher> launcher, Observer* observer = nullptr);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // ---- any thread -------------------------------------------------------------------------
  int pid() const { return pid_.load(); }
  State state() const { return state_.load(); }
  const std::string& containment() const { return containment_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }
  /// A fresh id for a call or a GetData.
  std::uint64_t next_id() { return next_id_++; }
  /// state() leaves `failed` at once, before reset() runs on the executor: a caller that
  /// resets and then reads state() must not see `failed` again. reset() must follow.
  void leave_failed_now() {
    State failed = State::failed;
    state_.compare_exchange_strong(failed, State::no_child);
  }

  // ---- on the executor --------------------------------------------------------------------
  /// Starts the first child; `done` is told whether its handshake succeeded. A first child
  /// that cannot start is not restarted.
  void start(StartDone done);

  /// Takes a call: sent when the child is ready, in order. A failed or stopped slot
  /// completes it at once.
  void submit(PendingCall call);
  /// The caller cancelled call `id`: a waiting call completes `cancelled`; a running one
  /// kills the child (which is replaced) and completes `cancelled`.
  void cancel(std::uint64_t id);

  /// Stores the value for every future child, and sends it to the running one.
  void set_data(const std::string& key, std::string value, std::string frame);
  /// Asks the running child (`frame` is the GetData for `id`); without one, answers from what
  /// the next child will start with.
  void get_data(std::uint64_t id, const std::string& key, std::string frame, DataWaiter answer);

  /// Leaves the failed state: forgets the restarts and starts a new child. Does nothing
  /// unless failed.
  void reset();

  /// True when no call waits or runs.
  bool idle() const { return !queue_.has_waiting() && !queue_.has_in_flight(); }

  /// Replaces the running, idle child by a fresh one. The old one is kept until the new one
  /// is ready, then stopped gracefully (as at shutdown); a replacement that cannot start
  /// leaves it in service. Calls submitted meanwhile wait for the new child.
  void recycle();
  /// Stops the running, idle child gracefully without replacing it; the next call starts one.
  void stop_idle();

  /// Stops for good: waiting calls complete `shutdown`, the child is stopped gracefully
  /// (channel closed, then SIGTERM and SIGKILL after Options::shutdown's timeouts), and
  /// `done` runs once it is reaped and the private directory is removed. Idempotent: a second
  /// call's `done` runs when the first's does.
  void stop(std::function<void()> done);

 private:
  // Where the slot is. State (public) is derived from it in one place, enter().
  enum class Phase {
    no_child,    // none running and none needed yet (a clean exit, or stopped when idle)
    starting,    // a child is starting (the first, or for a call, or a recycle's fresh one)
    restarting,  // a child is starting to replace one that died
    ready,       // a child runs and takes calls
    backoff,     // a dead child's replacement waits for its backoff
    failed,      // the budget gave up (or the policy is never): calls fail until reset()
    replacing,   // recycle(): a fresh child starts; the old one stays until it is ready
    stopping,    // stop(): the child is being stopped for good
    stopped,     // stop() is done
  };
  static State public_state(Phase phase);
  void enter(Phase phase);
  bool stopping() const { return phase_ == Phase::stopping || phase_ == Phase::stopped; }

  void pump();
  // With Options::reload_changed_libraries: how `library` differs from the file this child
  // loaded ("replaced by a new file", ...), or empty. Remembers the file of a library the
  // child has not been sent yet: what it is about to load.
  std::optional<std::string> library_change(const std::string& library);
  // Stops the current child (idle) gracefully because `library` changed, and starts another.
  void replace_for_changed_library(const std::string& library, const std::string& what);
  // Reads the child's limits again; when one changed, kills the child (limits_changed) and
  // returns false.
  bool limits_hold();
  // Sets the next waiting call's own limits in the box. `refused`: the backend cannot
  // enforce one; the call was completed with limit_unavailable. `child_lost`: the limits
  // could not be put back either; the call was completed the same way and the child is being
  // killed.
  enum class LimitsSet { set, refused, child_lost };
  LimitsSet set_call_limits(const CallLimits& overrides);
  void start_child(Phase phase);
  // Puts the ready spare in service as if it had just started in `phase` (starting or
  // restarting), its library links directory emptied first; false when there is none ready,
  // when a retired child is still stopping (its plugin could still write there), or when the
  // directory cannot be emptied (the spare is then retired).
  bool take_spare(Phase phase);
  // The spare if there is one ready, else a fresh child.
  void start_or_take_spare(Phase phase) {
    if (!take_spare(phase)) start_child(phase);
  }
  // Starts a spare beside the child in service, with Supervision::spare_child, unless one
  // exists or the slot is not ready.
  void start_spare();
  // Posts start_spare() (once) when a spare is wanted and missing.
  void post_spare_start();
  // What on_child_ready does for the current child; `from_spare`: it was started as the
  // spare (its data was sent and its StartedEvent given then).
  void enter_service(ChildProcess& child, bool from_spare);
  bool is_spare(const ChildProcess& child) const { return spare_.get() == &child; }
  void start_failed(const std::string& message);
  void on_reply(ChildProcess& child, ActiveCall& call, CallResult outcome);
  void heartbeat(std::uint64_t generation);
  void kill_child(ExitCause cause, StopSignal how = StopSignal::force);
  void stop_child();  // graceful: channel closed, then ask, then force
  // Stops `child` (no longer the current one) gracefully; its exit is only reported, with
  // `cause`.
  void retire(std::shared_ptr<ChildProcess> child, ExitCause cause = ExitCause::requested);
  bool retired_exit(ChildProcess& child, const ExitStatus& status);
  void answer_data_waiters();
  // `start_failure`: why a restart could not start a child (it then counts as a death), for
  // the restart limit's message.
  void after_death(const ExitStatus& status, DeathKind kind, const std::string& start_failure = {});
  void restart_after(std::chrono::milliseconds delay, unsigned attempt);
  void enter_failed(const std::string& reason, const std::function<void()>& announce = {});
  void finish_stop();
  bool retry(ActiveCall& call, const Failure& failure);
  bool is_current(const ChildProcess& child) const { return child_.get() == &child; }

  // CallQueue::Runner
  void overran(ActiveCall& call, Failure why, ExitCause cause) override;
  std::optional<std::chrono::microseconds> cpu_since_begin() override;

  // ChildListener
  void on_child_ready(ChildProcess& child) override;
  void on_child_start_failed(ChildProcess& child, std::string message) override;
  void on_child_message(ChildProcess& child, wire::Message message) override;
  void on_child_output(ChildProcess& child, OutputStream stream, std::string line) override;
  void on_child_broken(ChildProcess& child, std::string reason) override;
  void on_child_exit(ChildProcess& child, ExitStatus status) override;

  const boost::asio::any_io_executor executor_;
  const Options& options_;
  const Notifier notifier_;
  std::unique_ptr<Launcher> launcher_;  // owns the private directory: reset when stopped
  const std::string containment_;
  const Limits limits_;  // what the containment enforces
  Observer* const observer_;
  RestartBudget budget_;
  CallQueue queue_;
  ServiceCalls services_;  // the plugin's calls to Options::services

  boost::asio::steady_timer stop_timer_;
  boost::asio::steady_timer restart_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  // What isolatorctl shows of this slot (nullptr: not published); removed when stopped.
  std::unique_ptr<SlotRecord> record_;

  std::atomic<int> pid_{0};
  std::atomic<State> state_{State::no_child};
  std::atomic<std::uint64_t> next_id_{1};

  // On the executor only.
  Phase phase_ = Phase::no_child;
  std::shared_ptr<ChildProcess> child_;
  std::map<std::string, std::string> data_;  // replayed into every new child
  // The file behind each library path sent to the current child, as it was when first sent
  // (Options::reload_changed_libraries).
  struct LibraryFile {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    std::int64_t modified_ns = 0;
    std::int64_t changed_ns = 0;
    bool operator==(const LibraryFile&) const = default;
  };
  std::map<std::string, LibraryFile> loaded_;
  std::map<std::uint64_t, DataWaiter> data_waiters_;
  std::string failed_reason_;
  int previous_pid_ = 0;                 // the dead child a restart replaces
  RestartAttemptEvent last_attempt_;     // the restart under way, for its RestartedEvent
  std::optional<ExitCause> kill_cause_;  // why the supervisor killed the current child
  std::optional<CrashReport> crash_;     // the last crash report of the current child
  bool limits_read_at_reply_ = false;    // on_reply read the limits for the pump() it calls
  std::uint64_t child_generation_ = 0;   // which child the heartbeat watches
  std::uint64_t ping_seq_ = 0;
  std::chrono::steady_clock::time_point last_pong_{};
  std::shared_ptr<ChildProcess> replaced_;  // replacing: the old child, until the new one is ready
  // Supervision::spare_child: a child started beside the current one, idle until it takes
  // over (take_spare) once ready (it said Hello).
  std::shared_ptr<ChildProcess> spare_;
  bool spare_start_posted_ = false;
  // Set when a child enters service (with spare_child), cleared when a spare is started for it.
  bool spare_wanted_ = false;
  // Children being stopped that are no longer current (recycled, stopped when idle), each
  // with the timer that escalates its stop.
  struct Retired {
    std::shared_ptr<ChildProcess> child;
    std::shared_ptr<boost::asio::steady_timer> timer;
    ExitCause cause = ExitCause::requested;
  };
  std::vector<Retired> retired_;
  StartDone start_done_;
  std::vector<std::function<void()>> stop_done_;
};

}  // namespace isolator::detail
