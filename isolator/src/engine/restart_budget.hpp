// How long a dead child's replacement waits, and when the isolator gives up restarting:
// Options::supervision as pure arithmetic on an injected clock and jitter, so it is tested
// without a process or a sleep.
//
// The two ways a child dies are told apart, because only one of them says the plugin is
// unusable:
//  - before_method: it died before a method ran (pihost could not start, the handshake
//    failed, the library could not load or its static initializers crashed, or it died
//    between calls). Restarting cannot help a plugin that never comes up, so these are a
//    restart storm: they count toward max_restarts within restart_window (older ones are
//    forgotten), and once the window holds max_restarts of them the next one gives up (the
//    isolator is failed until reset()). Below that, the restart waits
//    min(backoff_initial * 2^(attempt-1), backoff_max) * jitter, attempt being this restart's
//    number in the window and jitter uniform in [0.8, 1.2] (so isolators restarting together
//    do not stay in step).
//  - in_method: it died running a call. That is the call's failure, not the isolator's: it
//    never gives up and never counts toward max_restarts, since a plugin that crashes on
//    some inputs still serves the others. But consecutive such deaths with no successful call
//    between them back off the same way (attempt being the length of that streak), so a
//    plugin crashing on every input cannot make the host spawn children as fast as calls
//    arrive. A successful call ends the streak; it does not forgive storm restarts, which
//    only the window forgets.
// Each kind leaves the other's count alone. reset() forgets both (ProcessIsolator::reset()).
//
// Not thread-safe: the isolator uses it on its I/O thread only.
#pragma once

#include <isolator/options.hpp>

#include <chrono>
#include <deque>
#include <functional>

namespace isolator::detail {

/// When a child died, as far as its restart is concerned.
enum class DeathKind {
  before_method,  ///< it never ran the method: a start, load or handshake failure, or idle
  in_method,      ///< it died running a call
};

class RestartBudget {
 public:
  using Clock = std::chrono::steady_clock;
  /// The current time; empty: Clock::now.
  using Now = std::function<Clock::time_point()>;
  /// A factor in [0.8, 1.2] applied to each backoff (not clamped here); empty: uniform in that
  /// range from a per-thread generator.
  using Jitter = std::function<double()>;

  struct Decision {
    bool give_up = false;                ///< restart limit reached: no restart
    unsigned attempt = 0;                ///< 1-based number of this restart in its count (0 on give_up)
    std::chrono::milliseconds delay{0};  ///< backoff before the restart, jitter included
    /// Storm restarts counted in the window, this one included when it is one; on give_up, the
    /// restarts made before giving up (RestartLimitEvent::attempts).
    unsigned restarts_in_window = 0;
  };

  /// Keeps a copy of the policy; only max_restarts, restart_window and the backoffs are used.
  explicit RestartBudget(const Supervision& policy, Now now = {}, Jitter jitter = {});

  /// A child died: restart it after `delay`, or give up (before_method only).
  Decision on_death(DeathKind kind);

  /// A call succeeded: the streak of in-method deaths is over.
  void on_call_succeeded();

  /// Forgets every restart and the streak: the next death is a first one again.
  void reset();

  const Supervision& policy() const { return policy_; }

 private:
  std::chrono::milliseconds backoff(unsigned attempt) const;

  Supervision policy_;
  Now now_;
  Jitter jitter_;
  std::deque<Clock::time_point> storm_restarts_;  // before_method restarts, oldest first
  unsigned in_method_streak_ = 0;                 // in_method deaths since the last success
};

}  // namespace isolator::detail
