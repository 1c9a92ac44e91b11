// The library's own I/O threads: an io_context and the threads that run it, for one
// ProcessIsolator (one thread) or one IsolatorPool (a few). Children are spawned from these
// threads, which live exactly as long as their owner: PR_SET_PDEATHSIG follows the spawning
// *thread*, so a child must never be spawned from a thread that may exit before it.
//
// A handler that throws is logged and the thread carries on. Each thread is marked
// (on_an_isolator_io_thread), so that code which would block there can refuse.
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
  /// Starts `count` threads (at least 1) running the context.
  explicit IoThreads(std::size_t count);
  /// Stops and joins the threads, unless release() handed them the owner.
  ~IoThreads();
  IoThreads(const IoThreads&) = delete;
  IoThreads& operator=(const IoThreads&) = delete;

  boost::asio::io_context& context() { return io_; }
  boost::asio::any_io_executor executor() { return io_.get_executor(); }
  std::size_t size() const { return threads_.size(); }

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
  void run(std::size_t index);

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> ids_;
  std::shared_ptr<void> owner_;  // set by release()
  std::atomic<bool> released_{false};
  std::atomic<std::size_t> left_{0};  // threads that have returned from run(), after release()
};

}  // namespace isolator::detail
