// Lifecycle events of an isolator's child, delivered to Options::on_event.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

namespace isolator {

/// A child finished its handshake and takes calls.
struct StartedEvent {
  int pid = 0;
  std::string containment;  ///< the backend confining it: "cgroup-v2", "cgroup-v1", "rlimit"
};

/// A child could not be started.
struct StartFailedEvent {
  std::string message;
};

/// A child is gone (and reaped).
struct ExitedEvent {
  int pid = 0;
  std::optional<int> exit_code;  ///< set when it exited
  std::optional<int> signal;     ///< set when a signal killed it
};

/// A restart is scheduled: attempt `attempt` within the window, after `delay`.
struct RestartAttemptEvent {
  unsigned attempt = 0;
  std::chrono::milliseconds delay{0};
};

/// A restarted child took over from the dead one.
struct RestartedEvent {
  int old_pid = 0;
  int new_pid = 0;
};

/// The restart limit was reached: the isolator is failed until reset().
struct RestartLimitEvent {
  unsigned attempts = 0;
};

using Event = std::variant<StartedEvent, StartFailedEvent, ExitedEvent, RestartAttemptEvent,
                           RestartedEvent, RestartLimitEvent>;

}  // namespace isolator
