// Runs Invoke requests, one at a time and in order, on a dedicated call thread, so that the
// main thread keeps reading the channel (and notices the host going away) during a call.
#pragma once

#include "channel.hpp"
#include "library_cache.hpp"
#include "usage_meter.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace pihost {

/// pihost's exit code when a call cannot be completed (its reply cannot be sent).
inline constexpr int exit_internal_error = 70;

class CallRunner {
 public:
  /// Starts the call thread. For each call it sends Started, then Result or Failed, on
  /// `channel`. When a reply cannot be sent, pihost exits with exit_internal_error.
  explicit CallRunner(Channel& channel);

  /// Queues a call. Thread-safe.
  void submit(isolator::wire::Invoke invoke);

 private:
  void run();
  // Runs one call and replies; takes the arguments out of `invoke`.
  void execute(isolator::wire::Invoke& invoke);

  Channel& channel_;
  LibraryCache libraries_;  // used by the call thread only
  UsageMeter meter_;        // likewise
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<isolator::wire::Invoke> queue_;
  std::thread thread_;  // never joined: pihost leaves with _exit when the channel closes
};

}  // namespace pihost
