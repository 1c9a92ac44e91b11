// pihost's conversation with the host: reads the host's messages, answers them, and runs
// the calls, one at a time and in order, on the thread that read them.
//
// Threads. The main thread reads the channel and runs each call itself: a call costs no
// hand-off to another thread (a context switch each way, a visible part of a warm call;
// docs/performance.md). While a call runs longer than a moment (relief_delay), the relief
// thread takes over the channel: it answers heartbeats and data requests, queues further
// calls, and sees the host close the channel. It sleeps on a timer that the first call of
// a burst arms; when the timer expires it looks at the call running then: if it has run for
// relief_delay it takes over the channel, if it began since, the timer is set for the rest,
// and with no call running it sleeps until the next burst. So a call costs no system call
// for the relief, and a burst of short calls about one wake-up of it per relief_delay. A
// plugin thread that calls a host service (HostCalls) wakes it at once instead, so that the
// answer is read. At any time exactly one thread reads the channel.
#pragma once

#include "call_runner.hpp"
#include "channel.hpp"

#include <isolator/wire/pihost_contract.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <variant>

namespace pihost {

/// Ends pihost for an error that ended the conversation (on whichever thread was reading):
/// says it on stderr, then leaves with isolator::wire::exit_protocol for a ProtocolError,
/// isolator::wire::exit_host_gone for anything else (the channel lost or unusable).
[[noreturn]] void end_conversation(const std::exception& error);

class Server {
 public:
  /// A call the host sent: a method's or a program's.
  using Call = std::variant<isolator::wire::Invoke, isolator::wire::Run>;

  /// How long a call runs before the relief thread answers the host in its stead.
  static constexpr std::chrono::milliseconds relief_delay{1};

  /// Creates the relief timer (a descriptor of 100 or more) and starts the relief thread.
  /// `links_directory`: pihost's --library-links directory, or empty (LibraryCache);
  /// `max_result_bytes`: the cap on a call's result bytes (--max-result-bytes).
  Server(Channel& channel, std::string links_directory, std::size_t max_result_bytes);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Serves until the host closes the channel (returns) or breaks the protocol (throws
  /// ProtocolError). The relief thread, on such an end during a call, ends pihost itself.
  void serve();

 private:
  // Answers a message that is not a call; returns true for a call (Invoke or Run), which the
  // caller runs or queues. Throws ProtocolError for a message only pihost may send.
  bool handle(isolator::wire::Message& message);
  void arm_timer(std::chrono::nanoseconds after);
  // Main thread, after a call: takes the channel back from the relief thread.
  void reclaim();
  // Any thread, after a plugin thread sent a CallHost: during a call, the relief thread takes
  // the channel now (not after relief_delay), so that the answer is read.
  void want_reader();
  // The relief thread.
  void relieve();
  void read_while_the_call_runs();

  Channel& channel_;
  CallRunner runner_;  // main thread only
  int timer_fd_ = -1;  // never closed: pihost leaves with _exit

  std::mutex mutex_;
  std::condition_variable released_;
  bool call_running_ = false;  // set by the main thread around each call
  std::chrono::steady_clock::time_point call_started_{};
  bool timer_armed_ = false;                   // the relief timer will expire (or has, unseen)
  bool relief_reading_ = false;                // the relief thread holds the channel
  bool reader_wanted_ = false;                 // a service call waits: relieve at once
  std::deque<Call> queued_;  // calls the relief thread read
};

}  // namespace pihost
