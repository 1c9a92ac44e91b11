// The floors each figure is measured against, in the same run: what the kernel charges for
// the same work without isolator.
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace bench {

/// Where the host thread and the child run. On a VM, a wake-up across CPUs costs tens of
/// microseconds, so every round-trip figure names its placement.
enum class Placement {
  same_cpu,   ///< host thread(s) and child all on CPU 0
  cross_cpu,  ///< host thread(s) on CPU 0, child on CPU 1
  scheduler,  ///< nobody pinned
};
const char* name(Placement placement);

/// The CPU the child gets under `placement`, or -1 for any.
int child_cpu(Placement placement);

/// Pins the calling thread (and the threads it creates from now on) for its lifetime, as
/// `placement` says for the host side; restores the previous mask when destroyed.
class HostPin {
 public:
  explicit HostPin(Placement placement);
  ~HostPin();
  HostPin(const HostPin&) = delete;
  HostPin& operator=(const HostPin&) = delete;

 private:
  cpu_set_t previous_{};
};

/// A forked child on one end of a Unix stream socket, written here with nothing but
/// read/write: the transport floor of a warm call.
class EchoChild {
 public:
  /// `reply_bytes` 0: every message is echoed whole; otherwise each message of
  /// `message_bytes` is answered with `reply_bytes` bytes.
  EchoChild(Placement placement, std::size_t message_bytes, std::size_t reply_bytes = 0);
  ~EchoChild();
  EchoChild(const EchoChild&) = delete;
  EchoChild& operator=(const EchoChild&) = delete;

  /// One round trip: sends a message, waits for its reply.
  void round_trip();

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  std::string message_;
  std::string reply_;
};

/// The cold-call floor: posix_spawn of a tiny C program that dlopens `plugin`, calls its
/// method and exits; returns once the program is reaped.
void run_tiny_child(const std::string& tiny_child, const std::string& plugin);

}  // namespace bench
