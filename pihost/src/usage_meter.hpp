// Measures what one call costs pihost: wall time, CPU time (all threads) and peak RSS.
#pragma once

#include <isolator/wire/protocol.hpp>

#include <sys/resource.h>

#include <chrono>

namespace pihost {

/// start() just before a call, stop() just after it; one meter serves every call, on the
/// thread that runs calls. The peak RSS is the process's VmHWM, which start() resets to the current
/// RSS through /proc/self/clear_refs so that it belongs to this call; the reset is skipped
/// when the last stop() found VmHWM equal to VmRSS (nothing to reset, and the write
/// is a visible part of a warm call's cost). RSS that falls between two calls then counts
/// towards the next call's peak. Where the kernel refuses the reset, the peak is the peak
/// since pihost started.
class UsageMeter {
 public:
  /// Opens /proc/self/clear_refs (for the reset) and /proc/self/status (for the peak), each
  /// at a descriptor of 100 or more, held for every call: a call costs a pread of status,
  /// not an open, read and close. Call once, before pihost makes itself undumpable
  /// (clear_refs is then root's). A descriptor the plugin closed or reused is noticed and
  /// not used (status is opened again; clear_refs cannot be, and the peak is then since start).
  static void prepare();

  void start();
  isolator::wire::Usage stop();

 private:
  std::chrono::steady_clock::time_point started_{};
  rusage before_{};
  bool peak_above_current_ = true;  // from the last stop(); true before the first call
};

}  // namespace pihost
