// A thread that runs jobs one after another, in the order they were posted. The pool uses
// two: one starts children, one shuts down the children it no longer needs.
//
// The thread owns its queue: a JobThread may be destroyed (or stopped) on its own thread,
// from inside a job, and the thread then finishes the queue and exits on its own.
#pragma once

#include <functional>
#include <memory>

namespace isolator::detail {

class JobThread {
 public:
  JobThread();
  /// stop(true): waits for the queue, except on the thread itself.
  ~JobThread();
  JobThread(const JobThread&) = delete;
  JobThread& operator=(const JobThread&) = delete;

  /// Queues `job`. After the thread has exited (stop() and an empty queue), runs it on the
  /// calling thread instead, so that no job is ever dropped. Any thread.
  void post(std::function<void()> job);

  /// Lets the thread run what is queued (and what is posted meanwhile), then exit. With
  /// `wait`, blocks until it has; never waits on the thread itself. Idempotent; any thread.
  void stop(bool wait);

  /// True on the thread itself.
  bool in_this_thread() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace isolator::detail
