// The containment backends behind one interface: cgroup v2, cgroup v1 and rlimits. One
// Backend per isolator; one Box per child.
#pragma once

#include "../spawn.hpp"
#include "cgroupfs.hpp"
#include "platform/child_process.hpp"

#include <isolator/limits.hpp>
#include <isolator/probe.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace isolator::detail {

/// Confines one child, from before its exec to after its death: the seam's Box (the call
/// path's view), plus what the Linux spawner and Child need. The destructor kills whatever
/// is still inside and removes what the box created (retrying while the kernel says busy).
class LinuxBox : public Box {
 public:
  /// Adds to the spawn what places the child in the box before it execs (cgroup.procs
  /// files to write, rlimits to set). Throws StartError naming the file when one it needs
  /// cannot be opened, and, when the process ran out of descriptors, saying so and the fix
  /// (also for the statistics files the box opened when it was made).
  virtual void prepare(SpawnRequest& request) = 0;

  /// Tells the box pihost's pid once spawned (the rlimit box reads its usage from /proc).
  virtual void adopt(int pid) { (void)pid; }

  /// Kills every process in the box (cgroup.kill, or freeze/kill/thaw). Safe to repeat.
  virtual void kill_all() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Containment kind() const = 0;

  /// Whether this backend can run here at all, and where (or why not, and the fix), and
  /// which limits it can enforce here. Which of them are requested is the caller's business.
  virtual BackendCheck check() const = 0;

  /// A new box for the next child, with every requested limit that this backend can
  /// enforce set and read back. Throws StartError naming the file, the errno text and the fix.
  virtual std::unique_ptr<LinuxBox> make_box(const Limits& limits) = 0;
};

/// Which of a list of backend checks `automatic` picks, and why.
struct CheckChoice {
  std::size_t index = 0;  ///< into the checks
  /// True when the choice gives up something: a stronger backend was refused, or a backend
  /// (a stronger one, or the chosen one) cannot enforce a requested limit.
  bool fallback = false;
  /// "<backend> is the strongest backend that works here and enforces every requested
  /// limit" or "<backend> enforces the most requested limits, not all of them", then for
  /// each backend passed over or short of a requested limit, "; <backend> refused: <detail>"
  /// or "; <backend> cannot enforce <limit> (<how>)[; <limit> (<how>)...]".
  std::string why;
};

/// The choice of Containment::automatic among `checks` (strongest first): the first usable
/// backend that enforces every limit `limits` sets; when none does, the usable one that
/// enforces the most of them (the stronger on a tie). A limit `limits` does not set does not
/// count, enforceable or not. Pure: reads nothing but its arguments, so it is testable
/// without the machine. Throws StartError, naming every refusal, when no check is usable.
CheckChoice choose_backend(const std::vector<BackendCheck>& checks, const Limits& limits);

/// A backend ready to make boxes, and why it was chosen.
struct BackendChoice {
  std::unique_ptr<Backend> backend;  ///< never null
  bool fallback = false;  ///< as CheckChoice::fallback; false when the backend was asked for by name
  std::string why;        ///< as CheckChoice::why, or "<backend> was asked for"
};

/// The backend named by `containment`, or for `automatic` the one choose_backend() picks
/// among cgroup v2, then v1, then rlimit, as checked here. Throws StartError when the
/// backend asked for by name cannot be used here (with the reason and the fix).
BackendChoice select_backend(Containment containment, const Limits& limits,
                             const std::filesystem::path& cgroup_v2_base);

std::unique_ptr<Backend> make_cgroup_v2_backend(const std::filesystem::path& base,
                                                const cgroupfs::Hierarchies& hierarchies);
std::unique_ptr<Backend> make_cgroup_v1_backend(const cgroupfs::Hierarchies& hierarchies);
std::unique_ptr<Backend> make_rlimit_backend();

/// Removes the cgroups and private directories of hosts that are gone (their pid no longer
/// runs with the start time in the name), killing what is left in those cgroups. Runs once
/// per process; never throws (problems are logged).
void sweep_stale_once(const std::filesystem::path& private_base, const std::filesystem::path& cgroup_v2_base);

}  // namespace isolator::detail
