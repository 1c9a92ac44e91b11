// The bytes that go with the call that is running: its input, which the plugin reads with
// isolator_input(), and its result, which the plugin sets with isolator_result_set() (both
// declared in isolator/plugin.hpp, defined here and exported from the pihost executable).
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace pihost {

/// What the method left as its result bytes when it returned.
struct ResultBytes {
  /// The bytes of the last accepted isolator_result_set(); nothing when none was called (or
  /// the last call was refused for its size).
  std::optional<std::string> bytes;
  /// The size of the last isolator_result_set() when it was over the cap, and no later call
  /// replaced it: the call then fails with result_too_large.
  std::optional<std::size_t> refused_size;
};

/// One per process (plugins reach it through C symbols). Thread-safe: a plugin may set its
/// result from any of its threads while the call runs; outside a call nothing is there and
/// isolator_result_set() is refused. Threads of one process cannot be told apart by call: a
/// thread an earlier call left running that sets a result (or reads the input) while a later
/// call runs sets (or reads) that call's.
class CallBytes {
 public:
  static CallBytes& instance();

  /// The call that starts now has `input`; result bytes over `max_result_bytes` are refused.
  void begin(std::string input, std::size_t max_result_bytes);
  /// The call returned: its result, and no call is running any more (isolator_input() gives
  /// NULL, isolator_result_set() fails).
  ResultBytes end();

  /// The running call's input bytes: their address and size, read together; nullptr and 0
  /// outside a call. The bytes stay where they are until the method returns (end()).
  std::pair<const char*, std::size_t> input() const;
  /// 0 stored; -1 outside a call, or out of memory (nothing changed); -2 over the cap
  /// (remembered, and earlier bytes dropped: see ResultBytes::refused_size).
  int set_result(const void* data, std::size_t size);
  /// The cap of the running call; 0 outside a call.
  std::size_t max_result_bytes() const;

 private:
  mutable std::mutex mutex_;
  bool running_ = false;
  std::string input_;  // replaced only by begin(), while no call runs
  std::size_t max_result_bytes_ = 0;
  ResultBytes result_;
};

}  // namespace pihost
