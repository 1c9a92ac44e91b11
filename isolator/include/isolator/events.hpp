// Lifecycle events of an isolator's child, delivered to Options::on_event (on the
// isolator's I/O thread, or on Options::callback_executor when one is set).
#pragma once

#include <isolator/call_result.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace isolator {

/// A child finished its handshake and takes calls.
struct StartedEvent {
  int pid = 0;              ///< the new child's pid
  std::string containment;  ///< the backend confining it: "cgroup-v2", "cgroup-v1", "rlimit"
  /// True for a spare (Supervision::spare_child): started and idle, serving no call yet. It
  /// enters service at a restart (the RestartedEvent names it) or when a new child is
  /// needed, without a second StartedEvent.
  bool spare = false;
};

/// A child could not be started.
struct StartFailedEvent {
  std::string message;  ///< why, as the StartError would say it
};

/// Why a child ended.
enum class ExitCause {
  requested,       ///< the isolator stopped it: shutdown(), the destructor, a pool recycling it
  exited,          ///< it exited on its own (a method called exit(), say)
  crashed,         ///< a signal the isolator did not send killed it
  memory_limit,    ///< the kernel's OOM killer stopped it at its memory limit
  timeout,         ///< the isolator killed it: a call passed its deadline
  cpu_limit,       ///< the isolator killed it: a call used more CPU time than allowed
  heartbeat,       ///< the isolator killed it: it answered no heartbeat (stopped or wedged)
  cancelled,       ///< the isolator killed it: the caller cancelled the running call
  protocol_error,  ///< the isolator killed it: it broke the wire protocol
  /// The isolator killed it: a limit its containment set no longer read as set at a call
  /// boundary (the plugin wrote its cgroup's limit files, or raised a hard rlimit). The call
  /// that had just returned failed with FailureKind::limits_changed; a change found before a
  /// call was sent fails no call (that call runs on the replacement).
  limits_changed,
  /// The isolator stopped it (gracefully) because a library it had loaded changed on disk
  /// before a call for it (Options::reload_changed_libraries); a LibraryChangedEvent came
  /// first. The call runs on the replacement.
  library_changed,
};

/// The cause's name exactly as spelled in the enum ("requested", ...); "unknown" for a value
/// outside the enum. Never throws; may be called from any thread.
std::string_view to_string(ExitCause cause);

/// A child is gone (and reaped).
struct ExitedEvent {
  int pid = 0;                          ///< the child's pid (reaped: it may be reused from now on)
  std::optional<int> exit_code;         ///< set when it exited
  std::optional<int> signal;            ///< set when a signal killed it
  ExitCause cause = ExitCause::exited;  ///< why it ended
  /// Where its crashed thread was, when a crash signal ended it (as in Failure::crash): also
  /// for a crash between calls, which fails no call.
  std::optional<CrashReport> crash;
};

/// A restart is scheduled: attempt `attempt`, after `delay`.
struct RestartAttemptEvent {
  /// 1 for the first: of the storm restarts within the window (the child died before a
  /// method ran), or of a streak of deaths inside methods with no successful call between
  /// (see Supervision).
  unsigned attempt = 0;
  std::chrono::milliseconds delay{0};  ///< the backoff before it, jitter included
};

/// A restarted child took over from the dead one.
struct RestartedEvent {
  int old_pid = 0;                     ///< the dead child's pid
  int new_pid = 0;                     ///< its replacement's
  unsigned attempt = 0;                ///< as in the RestartAttemptEvent this restart followed
  std::chrono::milliseconds delay{0};  ///< the backoff it waited, as in that event
};

/// The restart limit was reached: the isolator is failed until reset().
struct RestartLimitEvent {
  unsigned attempts = 0;  ///< restarts made within the window before giving up
};

/// A call is about to run a library that changed on disk since child `pid` loaded it (see
/// Options::reload_changed_libraries): that child is stopped and a new one started for the call.
struct LibraryChangedEvent {
  int pid = 0;          ///< the child that loaded the old file
  std::string library;  ///< the library's path, as the call gave it (links resolved under the strict profile)
  std::string what;     ///< what changed: "replaced (a new inode)", "size 1024 -> 2048", "removed"...
};

using Event = std::variant<StartedEvent, StartFailedEvent, ExitedEvent, RestartAttemptEvent, RestartedEvent,
                           RestartLimitEvent, LibraryChangedEvent>;

}  // namespace isolator
