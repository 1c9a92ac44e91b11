// Runs Invoke requests, one at a time and in order, on a dedicated call thread, so that the
// main thread keeps reading the channel (and notices the host going away) during a call.
#pragma once

#include "channel.hpp"
#include "library_cache.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace pihost {

class CallRunner {
 public:
  /// Starts the call thread. Replies (Result/Failed) are sent on `channel`.
  explicit CallRunner(Channel& channel);

  /// Queues a call. Thread-safe.
  void submit(isolator::wire::Invoke invoke);

 private:
  void run();
  void execute(const isolator::wire::Invoke& invoke);

  Channel& channel_;
  LibraryCache libraries_;  // used by the call thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<isolator::wire::Invoke> queue_;
  std::thread thread_;  // never joined: pihost leaves with _exit when the channel closes
};

}  // namespace pihost
