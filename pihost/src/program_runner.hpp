// Runs one Run request (ProcessIsolator::run): starts the program's keeper (pihost again,
// program_keeper.hpp) with the program's stdin, environment and working directory, sends
// Started once the program is exec'ed, waits for its end, and replies with its exit code or
// why it failed. The program writes to pihost's own stdout and stderr, so the host captures
// and attributes its lines as it does a method's.
#pragma once

#include "channel.hpp"

#include <isolator/wire/protocol.hpp>

namespace pihost {

/// Not thread-safe: one thread runs the calls (the Server's main thread).
class ProgramRunner {
 public:
  explicit ProgramRunner(Channel& channel) : channel_(channel) {}

  /// Runs `run` to its end and replies; takes its input out of `run`. When a reply cannot be
  /// sent, pihost exits with isolator::wire::exit_internal_error.
  void run(isolator::wire::Run& run);

 private:
  void execute(isolator::wire::Run& run);

  Channel& channel_;
};

}  // namespace pihost
