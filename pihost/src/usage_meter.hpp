// Measures what one call costs pihost: wall time, CPU time (all threads) and peak RSS.
#pragma once

#include <isolator/wire/protocol.hpp>

#include <sys/resource.h>

#include <chrono>

namespace pihost {

/// start() just before a call, stop() just after it. The peak RSS is the process's VmHWM,
/// reset by start() through /proc/self/clear_refs so that it belongs to this call (where
/// the kernel refuses the reset, it is the peak since pihost started).
class UsageMeter {
 public:
  void start();
  isolator::wire::Usage stop() const;

 private:
  std::chrono::steady_clock::time_point started_{};
  rusage before_{};
};

}  // namespace pihost
