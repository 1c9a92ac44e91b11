// The library's own I/O threads, each running an io_context of its own: one for a
// ProcessIsolator, a few for an IsolatorPool (whose children are spread over them). Children
// are spawned from these threads, which live exactly as long as their owner:
// PR_SET_PDEATHSIG follows the spawning *thread*, so a child must never be spawned from a
// thread that may exit before it.
//
// One context per thread, rather than one context run by several threads with a strand per
// child: a child's handlers then never hop between threads, and cost no strand's lock (a
// pool of 2 with 5,000 calls in flight took 1.20x as long with strands; docs/architecture.md).
//
// A handler that throws is logged and the thread carries on. Each thread is marked
// (on_an_isolator_io_thread), so that code which would block there can refuse, and named
// "isolator-io" for the operator (top -H, /proc/PID/task/*/comm).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace isolator::detail {

class IoThreads {
 public:
  /// Starts `count` threads (at least 1), each running a context of its own, whose reactor
  /// (and its descriptors: epoll, eventfd, timerfd) is made here. Throws StartError when a
  /// context cannot be made (out of file descriptors, say: the message then says so and the
  /// fix).
  explicit IoThreads(std::size_t count);
  /// Stops and joins the threads, unless release() handed them the owner.
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  /// The executor of thread `index % size()`.
  boost::asio::any_io_executor executor(std::size_t index = 0) {
    return contexts_[index % contexts_.size()]->io.get_executor();
  }

  /// True on one of these threads.
  bool in_this_thread() const;

  /// Lets the threads finish what is queued and exit, and joins them. Not on one of them.
  void stop_and_join();

  /// For an owner destroyed on one of these threads, where joining would wait for itself:
  /// the threads keep `owner` (the object holding this IoThreads) alive; once stop() is
  /// called, the last thread out destroys it. Any thread.
  void release(std::shared_ptr<void> owner);
  /// After release(): lets the threads exit. Any thread, usually one of these.
  void stop();

 private:
  struct Context {
    // The default concurrency hint, although one thread runs it: with the hint 1, Asio keeps
    // what this thread posts in a private queue that joins the shared one only after the
    // handler, so another thread's later post could run first, and the pool relies on its
    // posts keeping their order (pool_test's recycling tests failed under TSan's timing).
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  };
  void run(Context& context);

  std::vector<std::unique_ptr<Context>> contexts_;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> ids_;
  std::shared_ptr<void> owner_;  // set by release()
  std::atomic<bool> released_{false};
  std::atomic<std::size_t> left_{0};  // threads that have returned from run(), after release()
};

}  // namespace isolator::detail
