#include "job_thread.hpp"

#include "guarded.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace isolator::detail {

struct JobThread::State {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
  bool exited = false;
  std::thread thread;
  std::thread::id id;
};

JobThread::JobThread() : state_(std::make_shared<State>()) {
  std::lock_guard started(state_->mutex);  // the thread waits until `thread` and `id` are set
  state_->thread = std::thread([state = state_] {
    std::unique_lock lock(state->mutex);
    while (true) {
      state->wake.wait(lock, [&] { return state->stopping || !state->jobs.empty(); });
      if (state->jobs.empty()) break;  // stopping, and nothing left
      auto job = std::move(state->jobs.front());
      state->jobs.pop_front();
      lock.unlock();
      guarded("a pool job", job);
      job = nullptr;  // what the job held goes now, off the lock
      lock.lock();
    }
    state->exited = true;
  });
  state_->id = state_->thread.get_id();
}

JobThread::~JobThread() { stop(true); }  // stop() never waits on the thread itself

void JobThread::post(std::function<void()> job) {
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->exited) {
      state_->jobs.push_back(std::move(job));
      state_->wake.notify_one();
      return;
    }
  }
  guarded("a pool job", job);
}

void JobThread::stop(bool wait) {
  std::unique_lock lock(state_->mutex);
  state_->stopping = true;
  state_->wake.notify_one();
  if (!state_->thread.joinable()) return;
  if (wait && !in_this_thread()) {
    auto thread = std::move(state_->thread);
    lock.unlock();
    thread.join();
  } else {
    state_->thread.detach();  // it holds `state_` and finishes the queue by itself
  }
}

bool JobThread::in_this_thread() const {
  return state_->id == std::this_thread::get_id();  // set once, before the constructor returns
}

}  // namespace isolator::detail
