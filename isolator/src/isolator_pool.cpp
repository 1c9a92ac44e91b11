#include "call_check.hpp"
#include "completion.hpp"
#include "io_thread_mark.hpp"
#include "job_thread.hpp"
#include "log.hpp"

#include <isolator/errors.hpp>
#include <isolator/isolator_pool.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

namespace isolator {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t latency_window = 4096;

using detail::failed;

}  // namespace

// The pool's state lives under one mutex, which is never held while a child starts or
// stops: children are started on the pool's starter thread and shut down on its reaper
// thread, so a call, a metrics() or a finishing child never waits for another child's start.
//
// A call is handed to a child after the lock is released (async_invoke copies and encodes
// its arguments); the slot keeps the call meanwhile, so nothing can lose it.
//
// A slot is where one child lives. Its states:
//   idle      a child that takes the next call
//   busy      a child running a call
//   starting  the starter thread is making a child for it (replacing the one it may still
//             hold, which is kept if no new one can be started)
//   stopped   no child: stopped when idle, started again when a queued call needs it
//   failed    its supervisor gave up (restart limit): no calls until reset()
class IsolatorPool::Impl : public std::enable_shared_from_this<IsolatorPool::Impl> {
 public:
  explicit Impl(PoolOptions options)
      : options_(std::move(options)), timers_work_(asio::make_work_guard(timers_)) {
    if (options_.size == 0) throw OptionsError("PoolOptions::size must be positive");
    if (options_.max_queue == 0) throw OptionsError("PoolOptions::max_queue must be positive");
    if (options_.max_calls_per_child && *options_.max_calls_per_child == 0) {
      throw OptionsError("PoolOptions::max_calls_per_child must be positive");
    }
    // Count the children's restarts, and still tell the application. The counter is shared:
    // with a callback executor, this may run after the pool is gone.
    auto forward = options_.isolator.on_event;
    options_.isolator.on_event = [restarts = restarts_, forward](const Event& event) {
      if (std::holds_alternative<RestartedEvent>(event)) ++*restarts;
      if (forward) forward(event);
    };
  }

  ~Impl() { stop_timers(); }

  // Starts every child on the calling thread, before the pool is visible to anyone.
  void start() {
    for (std::size_t i = 0; i < options_.size; ++i) idle_timers_.push_back(std::make_unique<asio::steady_timer>(timers_));
    if (options_.idle_timeout) timer_thread_ = std::thread([this] { timers_.run(); });
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < options_.size; ++i) {
      slots_.push_back(Slot{ProcessIsolator::create(options_.isolator), SlotState::idle, 0, Clock::now(), 0, {}});
      arm_idle_timer(i);
    }
  }

  // True where a call must not wait for the pool: an isolator's I/O thread (a child's call
  // may need it) and the starter thread (a call may need a child started).
  bool must_not_block_here() const {
    return detail::on_an_isolator_io_thread || starter_.in_this_thread();
  }

  void submit(Invocation invocation, Handler handler) {
    // Here, not when a child takes it: a queued call that cannot be sent would have no one
    // to tell, and its child would stay busy.
    detail::check_sendable(invocation, options_.isolator.max_frame_bytes);
    auto work = asio::prefer(asio::get_associated_executor(handler, asio::system_executor()),
                             asio::execution::outstanding_work.tracked);
    Pending pending{std::make_shared<const Invocation>(std::move(invocation)), std::move(handler),
                    std::move(work), Clock::now()};
    Sends sends;
    {
      std::lock_guard lock(mutex_);
      if (shut_down_) throw ShutDownError("the pool is shut down; create a new one to make calls");
      Completions refused;
      if (all_failed()) {
        finish(refused, std::move(pending), every_child_failed());
      } else {
        if (queue_.size() >= options_.max_queue) {
          throw Error("the pool's queue is full: " + std::to_string(queue_.size()) +
                      " calls wait for a child (PoolOptions::max_queue); try again later");
        }
        queue_.push_back(std::move(pending));
        pump(refused, sends);
      }
      // Not on the caller's thread, inside async_invoke: a handler must not run before its
      // initiating function returns. Posted under the lock, before shutdown() can stop the
      // starter (it sets shut_down_ first), so the job is never run here instead.
      if (!refused.empty()) {
        auto shared = std::make_shared<Completions>(std::move(refused));
        starter_.post([shared] { complete_all(std::move(*shared)); });
      }
    }
    send_all(std::move(sends));
  }

  PoolMetrics metrics() const {
    std::lock_guard lock(mutex_);
    PoolMetrics m = counters_;
    m.restarts = restarts_->load();
    m.queue_length = queue_.size();
    m.failed_children = static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), gave_up));
    if (!latencies_.empty()) {
      std::vector<std::int64_t> sorted(latencies_.begin(), latencies_.end());
      std::sort(sorted.begin(), sorted.end());
      const auto at = [&](double q) {
        return std::chrono::microseconds(sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1))]);
      };
      m.latency_p50 = at(0.50);
      m.latency_p90 = at(0.90);
      m.latency_p99 = at(0.99);
    }
    return m;
  }

  std::vector<int> pids() const {
    std::lock_guard lock(mutex_);
    std::vector<int> pids;
    for (const auto& slot : slots_) pids.push_back(slot.isolator ? slot.isolator->pid() : 0);
    return pids;
  }

  void reset() {
    Completions refused;
    Sends sends;
    {
      std::lock_guard lock(mutex_);
      if (shut_down_) throw ShutDownError("the pool is shut down; create a new one");
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        auto& slot = slots_[i];
        if (!gave_up(slot)) continue;
        slot.isolator->reset();  // returns at once; calls given meanwhile wait in the child's queue
        slot.state = SlotState::idle;
        arm_idle_timer(i);
      }
      pump(refused, sends);
    }
    complete_all(std::move(refused));  // none: no slot is failed now
    send_all(std::move(sends));
  }

  // `wait`: block until every child is stopped. Without it (the pool destroyed where it must
  // not block), the reaper thread finishes the job on its own.
  void shutdown(bool wait) {
    Completions abandoned;
    std::vector<std::shared_ptr<ProcessIsolator>> children;
    {
      std::lock_guard lock(mutex_);
      if (shut_down_) return;
      shut_down_ = true;
      while (!queue_.empty()) {
        finish(abandoned, take_next(), failed(FailureKind::shutdown, "the pool shut down before the call was sent"));
      }
      for (auto& slot : slots_) {
        if (slot.isolator) children.push_back(std::move(slot.isolator));
        if (slot.state != SlotState::busy) slot.state = SlotState::stopped;  // busy: on_done comes
      }
    }
    complete_all(std::move(abandoned));
    stop_timers();
    starter_.stop(wait);  // a start under way ends; its child goes to the reaper
    // Each child completes its call in flight with `shutdown` as it stops.
    if (wait) {
      // All at once, so that the pool stops within one child's grace period, not N of them.
      std::vector<std::thread> stoppers;
      for (auto& child : children) {
        try {
          stoppers.emplace_back([child] { child->shutdown(); });
        } catch (const std::system_error&) {
          child->shutdown();  // no thread to be had: here, one after another
        }
      }
      for (auto& stopper : stoppers) stopper.join();
    } else {
      for (auto& child : children) retire(std::move(child));
    }
    reaper_.stop(wait);
  }

 private:
  enum class SlotState { idle, busy, starting, stopped, failed };
  struct Pending {
    // Shared, not copied, until it is sent: a call a child refuses with `restart_limit`
    // never ran, and goes to another child with the same arguments.
    std::shared_ptr<const Invocation> invocation;
    Handler handler;
    asio::any_completion_executor work;
    Clock::time_point queued;
  };
  struct Slot {
    // Shared with a send in progress (made off the lock); null while stopped.
    std::shared_ptr<ProcessIsolator> isolator;
    SlotState state = SlotState::idle;
    std::size_t calls = 0;    // calls its child has run
    Clock::time_point born;   // when its child was started
    std::uint64_t period = 0;  // bumped whenever it leaves `idle`: older idle timers do nothing
    std::optional<Pending> in_flight;  // the call its child runs (while busy)
  };
  using Completions = std::vector<std::pair<Pending, CallResult>>;
  // A call given to a child under the lock, to be sent to it once the lock is released.
  struct Send {
    std::size_t index;
    std::shared_ptr<ProcessIsolator> child;
    std::shared_ptr<const Invocation> invocation;
  };
  using Sends = std::vector<Send>;

  // Holds mutex_. Whether the slot's supervisor gave up, as far as the pool knows or its
  // idle child says.
  static bool gave_up(const Slot& slot) {
    return slot.state == SlotState::failed ||
           (slot.state == SlotState::idle && slot.isolator->state() == State::failed);
  }

  // Holds mutex_.
  bool all_failed() const {
    return std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.state == SlotState::failed; });
  }

  static CallResult every_child_failed() {
    return failed(FailureKind::restart_limit,
                   "every child of the pool reached its restart limit (Options::supervision); "
                   "IsolatorPool::reset() starts them again");
  }

  // Holds mutex_. Hands queued calls to idle children, and has children started for the
  // calls no child can take: replacing one past max_age, or in a stopped slot.
  void pump(Completions& out, Sends& sends) {
    if (shut_down_) return;
    for (auto& slot : slots_) {
      if (gave_up(slot)) slot.state = SlotState::failed;  // its child died between calls
    }
    if (all_failed()) {
      while (!queue_.empty()) finish(out, take_next(), every_child_failed());
      return;
    }
    // Children that run now first; then the ones their supervisor is restarting (the call
    // waits for the restart's backoff), rather than let a call queue while one is idle.
    for (const bool only_running : {true, false}) {
      for (std::size_t i = 0; i < slots_.size() && !queue_.empty(); ++i) {
        auto& slot = slots_[i];
        if (slot.state != SlotState::idle) continue;
        if (only_running && slot.isolator->state() != State::ready) continue;
        if (options_.max_age && Clock::now() - slot.born > *options_.max_age) {
          begin_start(i);  // the call waits for the new child
          continue;
        }
        give(i, take_next(), sends);
      }
    }
    auto starting = static_cast<std::size_t>(
        std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.state == SlotState::starting; }));
    for (std::size_t i = 0; i < slots_.size() && queue_.size() > starting; ++i) {
      if (slots_[i].state != SlotState::stopped) continue;
      begin_start(i);
      ++starting;
    }
  }

  // Holds mutex_.
  Pending take_next() {
    Pending next = std::move(queue_.front());
    queue_.pop_front();
    return next;
  }

  // Holds mutex_. Gives `pending` to the idle child of slot `index`; send_all() sends it.
  void give(std::size_t index, Pending pending, Sends& sends) {
    auto& slot = slots_[index];
    slot.state = SlotState::busy;
    ++slot.period;
    sends.push_back(Send{index, slot.isolator, pending.invocation});
    slot.in_flight = std::move(pending);
  }

  // Off the lock: sends each call to its child. The call completes in on_done(), on the
  // child's I/O thread (never inline); one the child refuses at once (the pool shut down
  // meanwhile, or no memory for the copy) completes with a failure here.
  void send_all(Sends sends) {
    for (auto& send : sends) {
      try {
        send.child->async_invoke(Invocation(*send.invocation),
                                 [self = shared_from_this(), index = send.index](CallResult r) {
                                   self->on_done(index, std::move(r));
                                 });
      } catch (const ShutDownError& e) {
        unsent(send.index, failed(FailureKind::shutdown, e.what()));
      } catch (const std::exception& e) {
        unsent(send.index, failed(FailureKind::start_failed, std::string("the pool could not send the call: ") + e.what()));
      }
    }
  }

  // A call send_all() could not send: its slot takes calls again, and the call fails.
  void unsent(std::size_t index, CallResult result) {
    Completions out;
    Sends sends;
    {
      std::lock_guard lock(mutex_);
      auto& slot = slots_[index];
      if (!slot.in_flight) return;
      Pending pending = std::move(*slot.in_flight);
      slot.in_flight.reset();
      if (!shut_down_ && slot.state == SlotState::busy) {
        slot.state = SlotState::idle;
        pump(out, sends);
        arm_idle_timer(index);
      }
      finish(out, std::move(pending), std::move(result));
    }
    complete_all(std::move(out));
    send_all(std::move(sends));
  }

  // Holds mutex_. Has the starter thread make a new child for slot `index`.
  void begin_start(std::size_t index) {
    slots_[index].state = SlotState::starting;
    ++slots_[index].period;
    starter_.post([self = shared_from_this(), index] { self->finish_start(index); });
  }

  // On the starter thread: starts a child for slot `index`, off the lock.
  void finish_start(std::size_t index) {
    {
      std::lock_guard lock(mutex_);
      if (shut_down_) return;  // no child is needed any more: do not start one
    }
    std::shared_ptr<ProcessIsolator> fresh;
    std::string error;
    try {
      fresh = ProcessIsolator::create(options_.isolator);
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "ProcessIsolator::create threw a non-std::exception";
    }
    std::shared_ptr<ProcessIsolator> retired;
    Completions out;
    Sends sends;
    {
      std::lock_guard lock(mutex_);
      auto& slot = slots_[index];
      if (shut_down_) {
        retired = std::move(fresh);
      } else if (slot.isolator && slot.isolator->state() == State::failed) {
        // The child it was to replace has reached its restart limit meanwhile: a fresh one
        // would get around the limit. It stays, set aside, until reset().
        retired = std::move(fresh);
        slot.state = SlotState::failed;
        pump(out, sends);
      } else {
        if (fresh) {
          retired = std::exchange(slot.isolator, std::move(fresh));
          if (retired) ++counters_.recycled;
        } else if (slot.isolator) {
          detail::log().error("the pool could not replace a child, keeping it: {}", error);
        } else if (!queue_.empty()) {
          finish(out, take_next(), failed(FailureKind::start_failed, error));
        }
        // Also when a replacement failed: the old child is not retried at once.
        slot.calls = 0;
        slot.born = Clock::now();
        slot.state = slot.isolator ? SlotState::idle : SlotState::stopped;
        pump(out, sends);
        arm_idle_timer(index);
      }
    }
    if (retired) retire(std::move(retired));
    complete_all(std::move(out));
    send_all(std::move(sends));
  }

  // On the finished child's I/O thread.
  void on_done(std::size_t index, CallResult result) {
    Completions out;
    Sends sends;
    {
      std::lock_guard lock(mutex_);
      auto& slot = slots_[index];
      if (!slot.in_flight) return;  // cannot happen: every call sent was given first
      Pending pending = std::move(*slot.in_flight);
      slot.in_flight.reset();
      const bool never_ran = !result.ok() && result.failure->kind == FailureKind::restart_limit;
      if (shut_down_ || slot.state != SlotState::busy) {
        finish(out, std::move(pending), std::move(result));
      } else {
        ++slot.calls;
        const bool used_up = options_.max_calls_per_child && slot.calls >= *options_.max_calls_per_child;
        if (never_ran || slot.isolator->state() == State::failed) {
          slot.state = SlotState::failed;
        } else if (used_up || (options_.recycle_above_rss_bytes &&
                               slot.isolator->resource_usage().rss_bytes > *options_.recycle_above_rss_bytes)) {
          begin_start(index);
        } else {
          slot.state = SlotState::idle;
        }
        if (never_ran && !all_failed()) {
          queue_.push_front(std::move(pending));  // it never ran: another child takes it first
        } else {
          finish(out, std::move(pending), std::move(result));
        }
        pump(out, sends);
        arm_idle_timer(index);
      }
    }
    complete_all(std::move(out));
    send_all(std::move(sends));
  }

  // Holds mutex_. Counts a call the pool completes, for metrics(), and adds it to `out`.
  void finish(Completions& out, Pending pending, CallResult result) {
    ++counters_.calls;
    if (!result.ok()) {
      ++counters_.failures;
      ++counters_.failures_by_kind[std::string(to_string(result.failure->kind))];
    }
    latencies_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - pending.queued).count());
    if (latencies_.size() > latency_window) latencies_.pop_front();
    out.emplace_back(std::move(pending), std::move(result));
  }

  static void complete_all(Completions done) {
    for (auto& [pending, result] : done) complete(std::move(pending), std::move(result));
  }

  static void complete(Pending pending, CallResult result) {
    detail::deliver(std::move(pending.work), std::move(pending.handler), std::move(result));
  }

  // A child the pool no longer needs is shut down on the reaper thread: not under the lock,
  // and not where it could be its own I/O thread (a child's shutdown can only be started
  // there, not awaited). The pool's shutdown waits for the reaper, so nothing outlives it.
  void retire(std::shared_ptr<ProcessIsolator> child) {
    reaper_.post([child = std::move(child)] { child->shutdown(); });  // blocks until it is stopped
  }

  void stop_timers() {
    timers_work_.reset();
    timers_.stop();
    if (timer_thread_.joinable()) {
      if (timer_thread_.get_id() == std::this_thread::get_id()) {
        timer_thread_.detach();  // cannot happen: the timer thread runs no application code
      } else {
        timer_thread_.join();
      }
    }
  }

  // Holds mutex_. When slot `index` is idle, stops its child if it is still idle
  // `idle_timeout` from now. One timer per slot, re-armed on the timer thread (a timer is not
  // thread-safe), so a busy pool does not pile up waits.
  void arm_idle_timer(std::size_t index) {
    if (!options_.idle_timeout || slots_[index].state != SlotState::idle) return;
    const auto period = slots_[index].period;
    // A weak reference: a pending timer must not keep a shut-down pool alive.
    asio::post(timers_, [weak = weak_from_this(), index, period] {
      auto self = weak.lock();
      if (!self) return;
      auto& timer = *self->idle_timers_[index];
      timer.expires_after(*self->options_.idle_timeout);  // cancels the wait before
      timer.async_wait([weak, index, period](boost::system::error_code error) {
        auto pool = weak.lock();
        if (error || !pool) return;
        pool->stop_if_still_idle(index, period);
      });
    });
  }

  // On the timer thread.
  void stop_if_still_idle(std::size_t index, std::uint64_t period) {
    std::shared_ptr<ProcessIsolator> idle;
    {
      std::lock_guard lock(mutex_);
      auto& slot = slots_[index];
      if (shut_down_ || slot.state != SlotState::idle || slot.period != period) return;
      if (gave_up(slot)) {
        slot.state = SlotState::failed;  // not stopped: a fresh child would get around its limit
        return;
      }
      if (slot.isolator->state() != State::ready) {
        // Restarting, or dead and about to give up: decide when it has settled.
        arm_idle_timer(index);
        return;
      }
      idle = std::move(slot.isolator);
      slot.state = SlotState::stopped;
      ++slot.period;
      ++counters_.recycled;
    }
    retire(std::move(idle));
  }

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  std::deque<Pending> queue_;  // never holds a call while a slot is idle
  bool shut_down_ = false;
  PoolMetrics counters_;
  std::deque<std::int64_t> latencies_;
  // Restarts the children reported (with a callback executor, as it runs those callbacks).
  std::shared_ptr<std::atomic<std::uint64_t>> restarts_ = std::make_shared<std::atomic<std::uint64_t>>(0);
  // Idle timers run on the pool's own thread (a child's thread may be gone by then).
  asio::io_context timers_;
  asio::executor_work_guard<asio::io_context::executor_type> timers_work_;
  std::vector<std::unique_ptr<asio::steady_timer>> idle_timers_;  // one per slot; timer thread only
  std::thread timer_thread_;
  detail::JobThread reaper_;   // shuts down children the pool no longer needs
  detail::JobThread starter_;  // starts children; destroyed first, so its children reach the reaper
};

std::unique_ptr<IsolatorPool> IsolatorPool::create(PoolOptions options) {
  auto impl = std::make_shared<Impl>(std::move(options));
  try {
    impl->start();
  } catch (...) {
    impl->shutdown(true);
    throw;
  }
  return std::unique_ptr<IsolatorPool>(new IsolatorPool(std::move(impl)));
}

IsolatorPool::IsolatorPool(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

IsolatorPool::~IsolatorPool() { impl_->shutdown(!impl_->must_not_block_here()); }

CallResult IsolatorPool::invoke(Invocation invocation) {
  if (impl_->must_not_block_here()) {
    throw Error("IsolatorPool::invoke() was called on an isolator's I/O thread or the pool's own "
                "thread (a completion handler or a callback), where it could wait for itself; "
                "use async_invoke there");
  }
  std::promise<CallResult> promise;
  auto future = promise.get_future();
  start_invoke(std::move(invocation), Handler([&promise](CallResult r) { promise.set_value(std::move(r)); }));
  return future.get();
}

void IsolatorPool::start_invoke(Invocation invocation, Handler handler) {
  impl_->submit(std::move(invocation), std::move(handler));
}

PoolMetrics IsolatorPool::metrics() const { return impl_->metrics(); }

std::vector<int> IsolatorPool::pids() const { return impl_->pids(); }

void IsolatorPool::reset() { impl_->reset(); }

void IsolatorPool::shutdown() {
  if (impl_->must_not_block_here()) {
    throw Error("IsolatorPool::shutdown() was called on an isolator's I/O thread or the pool's "
                "own thread (a completion handler or a callback), where it would wait for "
                "itself; destroy the pool there instead, or shut it down elsewhere");
  }
  impl_->shutdown(true);
}

}  // namespace isolator
