// Runs one Invoke request: resolves the method (libraries are loaded once and cached),
// calls it with its input bytes, measures it, and replies with its code and result bytes.
#pragma once

#include "channel.hpp"
#include "library_cache.hpp"
#include "program_runner.hpp"
#include "usage_meter.hpp"

#include <isolator/wire/pihost_contract.hpp>

#include <string>

namespace pihost {

/// `message` cut so that a Failed frame holding it is at most `max_frame_bytes` (pihost's
/// frame limit, the host's Options::max_frame_bytes, at least 4 KiB) and at most 64 KiB plus
/// a marker saying it was cut.
std::string bounded_message(std::string message, std::size_t max_frame_bytes);

/// Not thread-safe: one thread runs the calls (the Server's main thread).
class CallRunner {
 public:
  /// `links_directory`: pihost's --library-links directory, or empty (LibraryCache);
  /// `max_result_bytes`: the most result bytes a call may set (CallBytes).
  CallRunner(Channel& channel, std::string links_directory, std::size_t max_result_bytes)
      : channel_(channel), libraries_(std::move(links_directory)), max_result_bytes_(max_result_bytes) {}

  /// Sends Started, runs the call, then sends Result or Failed; takes the arguments out of
  /// `invoke`. When a reply cannot be sent, pihost exits with
  /// isolator::wire::exit_internal_error.
  void run(isolator::wire::Invoke& invoke);
  /// The same for a program (ProgramRunner).
  void run(isolator::wire::Run& run) { programs_.run(run); }

 private:
  void execute(isolator::wire::Invoke& invoke);

  Channel& channel_;
  LibraryCache libraries_;
  ProgramRunner programs_{channel_};
  UsageMeter meter_;
  std::size_t max_result_bytes_;
};

}  // namespace pihost
