// IsolatorPool: N supervisors spread over a few I/O threads of the pool's own, and the rules
// that feed them calls. This file is the facade: a bounded FIFO queue, the
// children as the pool sees them (updated by their supervisors' reports, never read back by
// snapshot), recycling and idle timers, metrics, and the blocking create() and shutdown().
//
// Threads: the pool's lock guards the queue, the children's views and the counters. It is
// never held while anything waits: starting and stopping children are asynchronous
// operations of their supervisors, each on its thread. Work for a supervisor is posted to its
// thread under the lock (so in the order the lock decided); completions are delivered after.
#include "call_check.hpp"
#include "completion.hpp"
#include "engine/cancel_relay.hpp"
#include "engine/failure_interpretation.hpp"
#include "engine/io_threads.hpp"
#include "engine/pool_schedule.hpp"
#include "engine/supervisor.hpp"
#include "io_thread_mark.hpp"
#include "options_check.hpp"

#include <isolator/errors.hpp>
#include <isolator/isolator_pool.hpp>
#include <isolator/wire/codec.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>

#include <algorithm>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace isolator {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using detail::failed;

namespace {

constexpr std::size_t latency_window = 4096;

const PoolOptions& validated(const PoolOptions& options) {
  if (options.size == 0) throw OptionsError("PoolOptions::size must be positive");
  if (options.max_queue == 0) throw OptionsError("PoolOptions::max_queue must be positive");
  if (options.max_calls_per_child && *options.max_calls_per_child == 0) {
    throw OptionsError("PoolOptions::max_calls_per_child must be positive");
  }
  if (options.threads && (*options.threads == 0 || *options.threads > options.size)) {
    throw OptionsError("PoolOptions::threads is " + std::to_string(*options.threads) +
                       "; it must be from 1 to " + "PoolOptions::size (" + std::to_string(options.size) +
                       "): more threads than children would idle");
  }
  detail::validated(options.isolator);
  return options;
}

CallResult every_child_failed() {
  return failed(FailureKind::restart_limit,
                "every child of the pool reached its restart limit (Options::supervision); "
                "IsolatorPool::reset() starts them again");
}

}  // namespace

class IsolatorPool::Impl final : public detail::Supervisor::Observer {
 public:
  explicit Impl(PoolOptions options)
      : options_(validated(options)),
        loadable_(detail::loadable_directories(options_.isolator)),
        search_path_(detail::configured_search_path(options_.isolator, loadable_)),
        threads_(detail::pool_threads(options_, std::thread::hardware_concurrency())) {
    for (std::size_t i = 0; i < options_.size; ++i) {
      // Children spread over the threads, each thread's context running its children alone.
      auto launcher = detail::make_launcher(options_.isolator);
      slots_.push_back(
          std::make_unique<Slot>(threads_.executor(i), options_.isolator, std::move(launcher), this));
      views_.emplace_back();
    }
  }

  ~Impl() {
    shutdown();
    relay_->detach();
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  /// Starts every child at once and waits for all; throws StartError with the first reason.
  void start() {
    auto remaining = std::make_shared<std::atomic<std::size_t>>(slots_.size());
    auto first_error = std::make_shared<std::optional<std::string>>();
    auto error_mutex = std::make_shared<std::mutex>();
    std::promise<void> all_started;
    auto future = all_started.get_future();
    for (auto& slot : slots_) {
      asio::post(slot->executor, [&, slot = slot.get()] {
        slot->supervisor.start([&, remaining, first_error, error_mutex](std::optional<std::string> error) {
          if (error) {
            std::lock_guard lock(*error_mutex);
            if (!*first_error) *first_error = std::move(error);
          }
          if (--*remaining == 0) all_started.set_value();
        });
      });
    }
    future.get();
    if (*first_error) throw StartError(**first_error);
  }

  /// True where a call must not wait for the pool: on its threads, or an isolator's.
  bool must_not_block_here() const { return threads_.in_this_thread() || detail::on_an_isolator_io_thread; }

  void submit(Invocation invocation, Handler handler) {
    // Here, not when a child takes it: a queued call that cannot be sent would have no one
    // to tell, and its child would stay busy.
    invocation.library = detail::loadable_library(std::move(invocation.library), loadable_);
    const auto search_path = detail::call_search_path(invocation, search_path_, loadable_);
    detail::check_sendable(invocation, search_path, options_.isolator.max_frame_bytes);
    // From here on the call's search path is the whole one its Invoke carries, checked.
    invocation.options.library_search_path.assign(search_path.begin(), search_path.end());
    enqueue(std::make_shared<const Invocation>(std::move(invocation)), nullptr, std::move(handler));
  }

  void submit_run(Command command, Handler handler) {
    CallOptions call_options = command.options;
    auto run = std::make_shared<wire::Run>(
        detail::checked_run(std::move(command), options_.isolator.limits.cpu_time_per_call, loadable_));
    detail::run_frame(*run, options_.isolator.max_frame_bytes);  // the size check; the frame is made when sent
    auto description = std::make_shared<const Invocation>(detail::program_description(run->argv.front(), call_options));
    enqueue(std::move(description), std::move(run), std::move(handler));
  }

  // Queues a checked call (`program` set for a program's) with `handler`; throws when the
  // pool is shut down or its queue is full.
  void enqueue(std::shared_ptr<const Invocation> invocation, std::shared_ptr<const wire::Run> program,
               Handler handler) {
    auto work = asio::prefer(asio::get_associated_executor(handler, asio::system_executor()),
                             asio::execution::outstanding_work.tracked);
    auto slot = asio::get_associated_cancellation_slot(handler);
    PoolCall call{next_id_++,         std::move(invocation),       std::move(program),
                  std::move(handler), std::move(work),
                  Clock::now(),       detail::Cancellation::none};
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (shut_down_) throw ShutDownError("the pool is shut down; create a new one to make calls");
      if (!detail::all_failed(views_) && queue_.size() >= options_.max_queue) {
        throw Error("the pool's queue is full: " + std::to_string(queue_.size()) +
                    " calls wait for a child (PoolOptions::max_queue); try again later");
      }
      if (detail::CancelRelay::install(slot, relay_, call.id))
        call.cancellation = detail::Cancellation::installed;
      queue_.push_back(std::move(call));
      pump(actions);
      // A call refused at once (every child failed) is completed on a pool thread, not here:
      // a handler must not run before its initiating function returns.
      post_locked(actions, /*defer_completions=*/true);
    }
  }

  PoolMetrics metrics() const {
    std::lock_guard lock(mutex_);
    PoolMetrics m = counters_;
    m.queue_length = queue_.size();
    m.failed_children = static_cast<std::size_t>(std::count_if(
        views_.begin(), views_.end(), [](const detail::PoolChild& c) { return c.state == State::failed; }));
    if (!latencies_.empty()) {
      std::vector<std::int64_t> sorted(latencies_.begin(), latencies_.end());
      std::sort(sorted.begin(), sorted.end());
      const auto at = [&](double q) {
        return std::chrono::microseconds(
            sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))]);
      };
      m.latency_p50 = at(0.50);
      m.latency_p90 = at(0.90);
      m.latency_p99 = at(0.99);
    }
    return m;
  }

  std::vector<int> pids() const {
    std::vector<int> pids;
    for (const auto& slot : slots_) pids.push_back(slot->supervisor.pid());
    return pids;
  }

  void reset() {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (shut_down_) throw ShutDownError("the pool is shut down; create a new one");
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (views_[i].state != State::failed) continue;
        slots_[i]->supervisor.leave_failed_now();
        views_[i].state = State::no_child;  // calls given from now on wait for its new child
        actions.push_back(Action{Action::reset, i, {}, {}});
      }
      pump(actions);
      post_locked(actions, true);
    }
  }

  /// Stops every child (at once, so that the pool stops within one grace period) and waits.
  void shutdown() {
    std::call_once(shutdown_once_, [this] {
      std::promise<void> stopped;
      auto future = stopped.get_future();
      begin_shutdown([&stopped] { stopped.set_value(); });
      future.get();
      threads_.stop_and_join();
    });
  }

  /// For a pool destroyed on one of its own threads (from a handler): stops without waiting,
  /// and its threads destroy `self` when the children are stopped.
  static void release_from_own_thread(std::shared_ptr<Impl> self) {
    Impl* impl = self.get();
    std::call_once(impl->shutdown_once_, [impl, &self] {
      impl->threads_.release(std::move(self));
      impl->begin_shutdown([impl] { impl->threads_.stop(); });
    });
  }

 private:
  struct PoolCall {
    std::uint64_t id = 0;
    // Shared, not copied, until it is sent: a call a child refuses with `restart_limit`
    // never ran, and goes to another child with the same arguments.
    std::shared_ptr<const Invocation> invocation;
    std::shared_ptr<const wire::Run> program;  // a program's call: its Run (id set when sent)
    Handler handler;
    asio::any_completion_executor work;
    Clock::time_point queued;
    detail::Cancellation cancellation = detail::Cancellation::none;
  };
  struct Slot {
    Slot(const asio::any_io_executor& on, const Options& options, std::unique_ptr<detail::Launcher> launcher,
         detail::Supervisor::Observer* observer)
        : executor(on), supervisor(on, options, std::move(launcher), observer), idle_timer(on) {}
    asio::any_io_executor executor;  // its thread's: everything of this child runs there
    detail::Supervisor supervisor;
    asio::steady_timer idle_timer;      // on the thread only
    std::optional<PoolCall> in_flight;  // the pool's call its child runs (guarded by mutex_)
    std::uint64_t child_call_id = 0;    // its id in the supervisor (guarded by mutex_)
    std::uint64_t period = 0;           // bumped whenever it takes a call: older idle timers do nothing
  };
  // What to do once the lock is released, in order.
  struct Action {
    enum Kind { send, recycle, reset, cancel, arm_idle_timer } kind;
    std::size_t slot;
    std::shared_ptr<const Invocation> invocation;  // for send
    std::shared_ptr<const wire::Run> program;      // for send, a program's call
    std::uint64_t id = 0;                          // for send and cancel: the supervisor's call id
    std::uint64_t period = 0;                      // for arm_idle_timer
  };
  struct Actions : std::vector<Action> {
    std::vector<std::pair<PoolCall, CallResult>> completions;
  };

  // ---- under the lock ---------------------------------------------------------------------

  // Hands queued calls to the children that can take them; fails them all when every child
  // has failed.
  void pump(Actions& actions) {
    if (shut_down_) return;
    if (detail::all_failed(views_)) {
      while (!queue_.empty()) finish(actions, take_next(), every_child_failed());
      return;
    }
    while (!queue_.empty()) {
      const auto chosen = detail::choose_child(views_);
      if (!chosen) return;
      give(*chosen, take_next(), actions);
    }
  }

  PoolCall take_next() {
    PoolCall next = std::move(queue_.front());
    queue_.pop_front();
    return next;
  }

  void give(std::size_t index, PoolCall call, Actions& actions) {
    auto& slot = *slots_[index];
    auto& view = views_[index];
    view.busy = true;
    ++slot.period;
    if (detail::too_old(view, options_, Clock::now())) {
      actions.push_back(Action{Action::recycle, index, {}, {}});  // the call waits for the new child
    }
    slot.child_call_id = slot.supervisor.next_id();
    actions.push_back(Action{Action::send, index, call.invocation, call.program, slot.child_call_id});
    slot.in_flight = std::move(call);
  }

  // Counts a call the pool completes, for metrics(), and adds it to the completions.
  void finish(Actions& actions, PoolCall call, CallResult result) {
    ++counters_.calls;
    if (!result.ok()) {
      ++counters_.failures;
      ++counters_.failures_by_kind[std::string(to_string(result.failure->kind))];
    }
    latencies_.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - call.queued).count());
    if (latencies_.size() > latency_window) latencies_.pop_front();
    actions.completions.emplace_back(std::move(call), std::move(result));
  }

  // Under the lock: posts each action to its child's thread, in order, and with
  // `defer_completions` the completions to a pool thread. Posting under the lock keeps the
  // order the lock decided: a call given to a child reaches its thread before a later
  // recycle, cancellation or stop of that child, and before shutdown can stop the threads.
  // (A post never runs its handler inline.)
  void post_locked(Actions& actions, bool defer_completions) {
    for (auto& action : actions) {
      auto& slot = *slots_[action.slot];
      asio::post(slot.executor, [this, &slot, action = std::move(action)] { perform(slot, action); });
    }
    actions.clear();
    if (defer_completions && !actions.completions.empty()) {
      auto shared = std::make_shared<decltype(actions.completions)>(std::move(actions.completions));
      actions.completions.clear();
      asio::post(threads_.executor(), [shared] {
        for (auto& [call, result] : *shared) complete(std::move(call), std::move(result));
      });
    }
  }

  // Off the lock: runs the completions' handlers (on their executors).
  static void complete_all(Actions& actions) {
    for (auto& [call, result] : actions.completions) complete(std::move(call), std::move(result));
    actions.completions.clear();
  }

  // On the slot's thread.
  void perform(Slot& slot, const Action& action) {
    auto& supervisor = slot.supervisor;
    switch (action.kind) {
      case Action::send: {
        const auto& invocation = *action.invocation;
        std::shared_ptr<const std::string> frame;
        if (action.program) {
          wire::Run run = *action.program;
          run.id = action.id;
          frame = std::make_shared<const std::string>(wire::encode_frame(run));
        } else {
          std::vector<std::string> search_path;
          for (const auto& directory : invocation.options.library_search_path) {
            search_path.push_back(directory.string());
          }
          frame = std::make_shared<const std::string>(wire::encode_frame(wire::Invoke{
              action.id, invocation.library, invocation.symbol, invocation.args, std::move(search_path),
              invocation.input}));
        }
        detail::PendingCall call{
            action.id,
            Invocation{invocation.library, invocation.symbol, {}, invocation.options, {}},
            std::move(frame),
            Handler([this, &slot](CallResult result) { on_done(slot, std::move(result)); }),
            asio::prefer(asio::any_completion_executor(slot.executor),
                         asio::execution::outstanding_work.tracked),
            detail::Cancellation::none,
            false,
            invocation.options.retries};
        supervisor.submit(std::move(call));
        return;
      }
      case Action::recycle: supervisor.recycle(); return;
      case Action::reset: supervisor.reset(); return;
      case Action::cancel: supervisor.cancel(action.id); return;
      case Action::arm_idle_timer:
        slot.idle_timer.expires_after(*options_.idle_timeout);  // cancels the wait before
        slot.idle_timer.async_wait([this, &slot, period = action.period](boost::system::error_code error) {
          if (!error) stop_if_still_idle(slot, period);
        });
        return;
    }
  }

  std::size_t index_of(const Slot& slot) const {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].get() == &slot) return i;
    }
    return slots_.size();
  }
  std::size_t index_of(const detail::Supervisor& supervisor) const {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (&slots_[i]->supervisor == &supervisor) return i;
    }
    return slots_.size();
  }

  // On the slot's thread: its child completed the pool's call.
  void on_done(Slot& slot, CallResult result) {
    const std::size_t index = index_of(slot);
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      if (!slot.in_flight) return;  // cannot happen: every call sent was given first
      PoolCall call = std::move(*slot.in_flight);
      slot.in_flight.reset();
      auto& view = views_[index];
      view.busy = false;
      const bool never_ran = !result.ok() && result.failure->kind == FailureKind::restart_limit;
      if (shut_down_) {
        finish(actions, std::move(call), std::move(result));
      } else {
        if (never_ran && !detail::all_failed(views_)) {
          queue_.push_front(std::move(call));  // it never ran: another child takes it first
        } else {
          ++view.calls;
          finish(actions, std::move(call), std::move(result));
          const bool rss_rule = options_.recycle_above_rss_bytes.has_value();
          const auto rss = rss_rule ? std::optional<std::int64_t>(
                                          detail::read_process_usage(slot.supervisor.pid()).rss_bytes)
                                    : std::nullopt;
          if (!never_ran && view.state == State::ready &&
              detail::after_call(view, options_, rss) == detail::AfterCall::recycle) {
            actions.push_back(Action{Action::recycle, index, {}, {}});
            // Seen as replacing from now, not when its supervisor reports it: the next call
            // goes to a child that runs, not to this one's replacement.
            view.state = State::no_child;
          }
        }
        pump(actions);
        if (!view.busy && options_.idle_timeout)
          actions.push_back(Action{Action::arm_idle_timer, index, {}, {}, 0, slot.period});
      }
      post_locked(actions, false);
    }
    complete_all(actions);
  }

  // On the slot's thread, when its idle timer expires.
  void stop_if_still_idle(Slot& slot, std::uint64_t period) {
    const std::size_t index = index_of(slot);
    {
      std::lock_guard lock(mutex_);
      const auto& view = views_[index];
      if (shut_down_ || view.busy || slot.period != period || view.state == State::failed) return;
      if (view.state != State::ready) {
        // Restarting: decide when it has settled.
        slot.idle_timer.expires_after(*options_.idle_timeout);
        slot.idle_timer.async_wait([this, &slot, period](boost::system::error_code error) {
          if (!error) stop_if_still_idle(slot, period);
        });
        return;
      }
      ++counters_.recycled;
      views_[index].state = State::no_child;  // the next call goes to a child that runs
    }
    slot.supervisor.stop_idle();
  }

  // Supervisor::Observer, on the supervisor's thread.
  void on_state(detail::Supervisor& supervisor, State state) override {
    const std::size_t index = index_of(supervisor);
    if (index == slots_.size()) return;  // still being built
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      auto& view = views_[index];
      view.state = state;
      if (state == State::ready) {  // a new child process
        view.calls = 0;
        view.born = Clock::now();
        // Armed here too, not only after a call: a child that never gets one is stopped.
        if (!view.busy && options_.idle_timeout) {
          actions.push_back(Action{Action::arm_idle_timer, index, {}, {}, 0, slots_[index]->period});
        }
      }
      pump(actions);
      post_locked(actions, true);
    }
  }

  void on_restarted(detail::Supervisor&) override {
    std::lock_guard lock(mutex_);
    ++counters_.restarts;
  }

  void on_recycled(detail::Supervisor&) override {
    std::lock_guard lock(mutex_);
    ++counters_.recycled;
  }

  void cancel(std::uint64_t id) {
    Actions actions;
    {
      std::lock_guard lock(mutex_);
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (it->id != id) continue;
        PoolCall call = std::move(*it);
        queue_.erase(it);
        finish(actions, std::move(call),
               failed(FailureKind::cancelled, "the caller cancelled the call before it was sent"));
        break;
      }
      for (std::size_t i = 0; i < slots_.size() && actions.completions.empty(); ++i) {
        auto& slot = *slots_[i];
        if (slot.in_flight && slot.in_flight->id == id) {
          actions.push_back(Action{Action::cancel, i, {}, {}, slot.child_call_id});
          break;
        }
      }
      post_locked(actions, false);
    }
    complete_all(actions);
  }

  // Refuses new calls, completes the queued ones with `shutdown`, and stops every child at
  // once; `done` runs on a pool thread when all are stopped.
  void begin_shutdown(std::function<void()> done) {
    Actions abandoned;
    {
      std::lock_guard lock(mutex_);
      shut_down_ = true;
      while (!queue_.empty()) {
        finish(abandoned, take_next(),
               failed(FailureKind::shutdown, "the pool shut down before the call was sent"));
      }
    }
    complete_all(abandoned);
    auto remaining = std::make_shared<std::atomic<std::size_t>>(slots_.size());
    auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
    for (auto& slot : slots_) {
      asio::post(slot->executor, [slot = slot.get(), remaining, shared_done] {
        slot->idle_timer.cancel();
        slot->supervisor.stop([remaining, shared_done] {
          if (--*remaining == 0) (*shared_done)();
        });
      });
    }
  }

  static void complete(PoolCall call, CallResult result) {
    detail::deliver(std::move(call.work), std::move(call.handler), std::move(result), call.cancellation);
  }

  const PoolOptions options_;
  const std::vector<std::filesystem::path> loadable_;  // strict profile: where libraries may lie
  const std::vector<std::string> search_path_;         // Options::library_search_path, checked
  detail::IoThreads threads_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::atomic<std::uint64_t> next_id_{1};
  mutable std::mutex mutex_;
  std::vector<detail::PoolChild> views_;  // one per slot: what the pool knows of each child
  std::deque<PoolCall> queue_;            // never holds a call while a child could take it
  bool shut_down_ = false;
  PoolMetrics counters_;
  std::deque<std::int64_t> latencies_;
  std::once_flag shutdown_once_;
  const std::shared_ptr<detail::CancelRelay> relay_ = std::make_shared<detail::CancelRelay>(
      [this](std::uint64_t id) { asio::post(threads_.executor(), [this, id] { cancel(id); }); });
};

std::unique_ptr<IsolatorPool> IsolatorPool::create(PoolOptions options) {
  auto impl = std::make_shared<Impl>(std::move(options));
  try {
    impl->start();
  } catch (...) {
    impl->shutdown();
    throw;
  }
  return std::unique_ptr<IsolatorPool>(new IsolatorPool(std::move(impl)));
}

IsolatorPool::IsolatorPool(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

IsolatorPool::~IsolatorPool() {
  if (impl_->must_not_block_here()) {
    Impl::release_from_own_thread(std::move(impl_));
    return;
  }
  impl_->shutdown();
}

CallResult IsolatorPool::invoke(Invocation invocation) {
  if (impl_->must_not_block_here()) {
    throw Error("IsolatorPool::invoke() was called on an isolator's I/O thread or one of the pool's (a "
                "completion handler or a callback), where it could wait for itself; use async_invoke there");
  }
  return detail::wait_for_call([&](Handler handler) { start_invoke(std::move(invocation), std::move(handler)); });
}

void IsolatorPool::start_invoke(Invocation invocation, Handler handler) {
  impl_->submit(std::move(invocation), std::move(handler));
}

CallResult IsolatorPool::run(Command command) {
  if (impl_->must_not_block_here()) {
    throw Error("IsolatorPool::run() was called on an isolator's I/O thread or one of the pool's (a "
                "completion handler or a callback), where it could wait for itself; use async_run there");
  }
  return detail::wait_for_call([&](Handler handler) { start_run(std::move(command), std::move(handler)); });
}

void IsolatorPool::start_run(Command command, Handler handler) {
  impl_->submit_run(std::move(command), std::move(handler));
}

PoolMetrics IsolatorPool::metrics() const { return impl_->metrics(); }

std::vector<int> IsolatorPool::pids() const { return impl_->pids(); }

void IsolatorPool::reset() { impl_->reset(); }

void IsolatorPool::shutdown() {
  if (impl_->must_not_block_here()) {
    throw Error("IsolatorPool::shutdown() was called on an isolator's I/O thread or one of the pool's (a "
                "completion handler or a callback), where it would wait for itself; destroy the pool there "
                "instead, or shut it down elsewhere");
  }
  impl_->shutdown();
}

}  // namespace isolator
