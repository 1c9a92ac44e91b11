#include "call_check.hpp"
#include "completion.hpp"
#include "log.hpp"

#include <isolator/errors.hpp>
#include <isolator/isolator_pool.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_executor.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

namespace isolator {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t latency_window = 4096;
}  // namespace

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

  ~Impl() {
    stop_timers();
    stop_reaper();
    if (reaper_.joinable()) reaper_.detach();  // only when the last owner is the reaper itself
  }

  void start() {
    reaper_ = std::thread([this] { reap(); });
    if (options_.idle_timeout) timer_thread_ = std::thread([this] { timers_.run(); });
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < options_.size; ++i) {
      slots_.push_back(Slot{ProcessIsolator::create(options_.isolator), false, 0, Clock::now()});
    }
  }

  void submit(Invocation invocation, Handler handler) {
    // Here, not when a child takes it: a queued call that cannot be sent would have no one
    // to tell, and its child would stay busy.
    detail::check_sendable(invocation, options_.isolator.max_frame_bytes);
    auto work = asio::prefer(asio::get_associated_executor(handler, asio::system_executor()),
                             asio::execution::outstanding_work.tracked);
    Pending pending{std::move(invocation), std::move(handler), std::move(work), Clock::now()};
    std::lock_guard lock(mutex_);
    if (shut_down_) throw ShutDownError("the pool is shut down; create a new one to make calls");
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].busy) {
        dispatch(i, std::move(pending));
        return;
      }
    }
    if (queue_.size() >= options_.max_queue) {
      throw Error("the pool's queue is full: " + std::to_string(queue_.size()) +
                  " calls wait for a child (PoolOptions::max_queue); try again later");
    }
    queue_.push_back(std::move(pending));
  }

  PoolMetrics metrics() const {
    std::lock_guard lock(mutex_);
    PoolMetrics m = counters_;
    m.restarts = restarts_->load();
    m.queue_length = queue_.size();
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

  void shutdown() {
    std::deque<Pending> abandoned;
    std::vector<std::unique_ptr<ProcessIsolator>> children;
    {
      std::lock_guard lock(mutex_);
      if (shut_down_) return;
      shut_down_ = true;
      abandoned.swap(queue_);
      for (auto& slot : slots_) children.push_back(std::move(slot.isolator));
    }
    for (auto& pending : abandoned) {
      CallResult result;
      result.failure = Failure{FailureKind::shutdown, "the pool shut down before the call was sent",
                               std::nullopt, std::nullopt};
      complete(std::move(pending), std::move(result));
    }
    for (auto& child : children) {
      if (child) child->shutdown();  // completes its call in flight with `shutdown`
    }
    stop_timers();
    stop_reaper();
  }

 private:
  struct Slot {
    std::unique_ptr<ProcessIsolator> isolator;  // null while stopped for being idle
    bool busy = false;
    std::size_t calls = 0;
    Clock::time_point born;
    std::uint64_t idle_since = 0;  // which idle period the armed timer belongs to
  };
  struct Pending {
    Invocation invocation;
    Handler handler;
    asio::any_completion_executor work;
    Clock::time_point queued;
  };

  // Holds mutex_. Gives `pending` to slot `index`, replacing a child past its maximum age
  // first.
  void dispatch(std::size_t index, Pending pending) {
    auto& slot = slots_[index];
    std::unique_ptr<ProcessIsolator> retired;
    if (!slot.isolator) {  // stopped while idle: start it again
      try {
        slot.isolator = ProcessIsolator::create(options_.isolator);
        slot.calls = 0;
        slot.born = Clock::now();
      } catch (const std::exception& e) {
        CallResult result;
        result.failure = Failure{FailureKind::start_failed, e.what(), std::nullopt, std::nullopt};
        // Not here, under the lock (a handler run inline could call the pool again): on the
        // timer thread, which runs whenever a slot can be empty (idle_timeout is set).
        asio::post(timers_, [pending = std::move(pending), result = std::move(result)]() mutable {
          complete(std::move(pending), std::move(result));
        });
        return;
      }
    }
    if (options_.max_age && Clock::now() - slot.born > *options_.max_age) retired = recycle(slot);
    slot.busy = true;
    ++slot.idle_since;
    auto* child = slot.isolator.get();
    auto invocation = pending.invocation;
    child->async_invoke(std::move(invocation),
                        [self = shared_from_this(), index, pending = std::move(pending)](CallResult r) mutable {
                          self->on_done(index, std::move(pending), std::move(r));
                        });
    if (retired) retire(std::move(retired));
  }

  // Holds mutex_. Puts a fresh child in the slot and returns the old one (destroyed by the
  // caller). Keeps the old one when no new one can be started.
  std::unique_ptr<ProcessIsolator> recycle(Slot& slot) {
    try {
      auto fresh = ProcessIsolator::create(options_.isolator);
      ++counters_.recycled;
      slot.calls = 0;
      slot.born = Clock::now();
      return std::exchange(slot.isolator, std::move(fresh));
    } catch (const std::exception& e) {
      detail::log().error("the pool could not replace a child, keeping it: {}", e.what());
      return nullptr;
    }
  }

  // Runs on the finished child's I/O thread.
  void on_done(std::size_t index, Pending pending, CallResult result) {
    std::unique_ptr<ProcessIsolator> retired;
    {
      std::lock_guard lock(mutex_);
      ++counters_.calls;
      if (!result.ok()) {
        ++counters_.failures;
        ++counters_.failures_by_kind[std::string(to_string(result.failure->kind))];
      }
      latencies_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - pending.queued).count());
      if (latencies_.size() > latency_window) latencies_.pop_front();
      auto& slot = slots_[index];
      if (!shut_down_ && slot.isolator) {
        ++slot.calls;
        const bool used_up = options_.max_calls_per_child && slot.calls >= *options_.max_calls_per_child;
        const bool too_big = options_.recycle_above_rss_bytes &&
                             slot.isolator->resource_usage().rss_bytes > *options_.recycle_above_rss_bytes;
        if (used_up || too_big) retired = recycle(slot);
        if (!queue_.empty()) {
          Pending next = std::move(queue_.front());
          queue_.pop_front();
          dispatch(index, std::move(next));
        } else {
          slot.busy = false;
          arm_idle_timer(index);
        }
      }
    }
    complete(std::move(pending), std::move(result));
    if (retired) retire(std::move(retired));
  }

  // A replaced child is shut down on the pool's reaper thread: not here (this may be the
  // child's own I/O thread, where its shutdown could only be started, not awaited), and
  // not under the lock. The pool's shutdown waits for the reaper, so nothing outlives it.
  void retire(std::unique_ptr<ProcessIsolator> child) {
    {
      std::lock_guard lock(reap_mutex_);
      to_reap_.push_back(std::move(child));
    }
    reap_wake_.notify_one();
  }

  void reap() {
    std::unique_lock lock(reap_mutex_);
    while (true) {
      reap_wake_.wait(lock, [&] { return reaper_stop_ || !to_reap_.empty(); });
      if (to_reap_.empty()) return;  // stopped, and nothing left
      auto child = std::move(to_reap_.front());
      to_reap_.pop_front();
      lock.unlock();
      child.reset();  // blocks until it is shut down
      lock.lock();
    }
  }

  void stop_reaper() {
    {
      std::lock_guard lock(reap_mutex_);
      reaper_stop_ = true;
    }
    reap_wake_.notify_one();
    if (reaper_.joinable() && reaper_.get_id() != std::this_thread::get_id()) reaper_.join();
  }

  void stop_timers() {
    timers_work_.reset();
    timers_.stop();
    if (timer_thread_.joinable() && timer_thread_.get_id() != std::this_thread::get_id()) {
      timer_thread_.join();
    }
  }

  // Holds mutex_. Stops the slot's child if it is still idle `idle_timeout` from now.
  void arm_idle_timer(std::size_t index) {
    if (!options_.idle_timeout) return;
    const auto period = ++slots_[index].idle_since;
    auto timer = std::make_shared<asio::steady_timer>(timers_, *options_.idle_timeout);
    // A weak reference: a pending timer must not keep a shut-down pool alive.
    timer->async_wait([weak = weak_from_this(), timer, index, period](boost::system::error_code error) {
      auto self = weak.lock();
      if (error || !self) return;
      std::unique_ptr<ProcessIsolator> idle;
      {
        std::lock_guard lock(self->mutex_);
        auto& slot = self->slots_[index];
        if (self->shut_down_ || slot.busy || slot.idle_since != period || !slot.isolator) return;
        idle = std::move(slot.isolator);
        ++self->counters_.recycled;
      }
      idle.reset();  // shuts the idle child down, off the lock
    });
  }

  static void complete(Pending pending, CallResult result) {
    detail::deliver(std::move(pending.work), std::move(pending.handler), std::move(result));
  }

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  std::deque<Pending> queue_;
  bool shut_down_ = false;
  PoolMetrics counters_;
  std::deque<std::int64_t> latencies_;
  // Restarts the children reported (with a callback executor, as it runs those callbacks).
  std::shared_ptr<std::atomic<std::uint64_t>> restarts_ = std::make_shared<std::atomic<std::uint64_t>>(0);
  // Idle timers run on the pool's own thread (a child's thread may be gone by then).
  asio::io_context timers_;
  asio::executor_work_guard<asio::io_context::executor_type> timers_work_;
  std::thread timer_thread_;
  // Replaced children waiting to be shut down by the reaper thread.
  std::mutex reap_mutex_;
  std::condition_variable reap_wake_;
  std::deque<std::unique_ptr<ProcessIsolator>> to_reap_;
  bool reaper_stop_ = false;
  std::thread reaper_;
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

IsolatorPool::~IsolatorPool() { impl_->shutdown(); }

CallResult IsolatorPool::invoke(Invocation invocation) {
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

void IsolatorPool::shutdown() { impl_->shutdown(); }

}  // namespace isolator
