// A plugin's calls to the host's services (isolator_call_host, declared in isolator/plugin.hpp,
// defined here and exported from the pihost executable): each is sent as a CallHost from the
// plugin's thread, which then waits for the HostAnswer of the same seq. Whichever pihost thread
// reads the channel (the relief thread during a call, the main thread between calls) hands
// the answer over.
#pragma once

#include "channel.hpp"

#include <isolator/wire/protocol.hpp>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace pihost {

/// One per process (plugins reach it through a C symbol). Thread-safe.
class HostCalls {
 public:
  static HostCalls& instance();

  /// Where calls are sent, and `want_reader`, called after each send so that some thread
  /// reads the channel for the answer. Once, before the first call.
  void attach(Channel& channel, std::function<void()> want_reader);

  /// Call `id` starts (its method is about to run) / has returned.
  void begin(std::uint64_t id);
  void end();

  struct Answer {
    int code = 0;  ///< isolator_call_host's return value (ISOLATOR_HOST_...)
    std::string bytes;
  };
  /// Sends the call and blocks until its answer. Codes: ISOLATOR_HOST_ENDED at once when no
  /// call runs (or the host is gone), ISOLATOR_HOST_INVALID when the message would not fit
  /// a frame; otherwise what the host answered.
  Answer call(std::string_view service, std::string_view bytes);

  /// The host's answer to `answer.seq`, for its waiting thread. Throws
  /// isolator::wire::ProtocolError for a seq nobody waits for.
  void answer(isolator::wire::HostAnswer answer);

  /// How many plugin threads wait for an answer now.
  std::size_t waiting() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable answered_;
  Channel* channel_ = nullptr;
  std::function<void()> want_reader_;
  std::optional<std::uint64_t> running_;  // the call running now
  std::uint64_t next_seq_ = 0;
  std::map<std::uint64_t, std::optional<isolator::wire::HostAnswer>> waiters_;  // seq -> answer once here
};

}  // namespace pihost
