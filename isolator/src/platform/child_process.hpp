// The platform seam: everything the engine (call queue, supervisor, facades) needs from the
// operating system, as interfaces. The Linux implementations live in platform/linux/; a port
// adds a folder beside it and changes nothing above this line.
//
// Three things cross the seam:
// - a Launcher, made once per supervisor from the Options: it finds pihost, chooses the
//   containment and makes the private endpoint's directory; it spawns children;
// - a ChildProcess: one pihost, its channel (handshake done before it reports ready), its
//   output streams, and its end. The spawner and the channel are one object because on
//   every platform the handshake binds them: the host accepts the one connection whose peer
//   is the process it spawned;
// - a Box: the child's containment as the engine sees it per call (baselines, OOM, CPU,
//   the limits it set, read again).
//
// Threads: a ChildProcess lives on the executor it was started on; every member function
// must be called there, and every ChildListener callback is made there.
#pragma once

#include <isolator/call_result.hpp>
#include <isolator/limits.hpp>
#include <isolator/options.hpp>
#include <isolator/process_isolator.hpp>
#include <isolator/wire/protocol.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace isolator::detail {

/// How the child ended: one of the two is set, or neither when the status could not be read
/// (on Linux: the application ignores SIGCHLD, or reaped the child itself).
struct ExitStatus {
  std::optional<int> exit_code;
  std::optional<int> signal;
};

/// Kernel figures a Box can read for the child as a whole (all its processes).
struct BoxUsage {
  std::optional<std::chrono::microseconds> cpu_user;
  std::optional<std::chrono::microseconds> cpu_sys;
  std::optional<std::int64_t> peak_memory_bytes;  ///< since the last begin_call, where known
};

/// A limit a Box set that no longer reads as set.
struct ChangedLimit {
  std::string name;   ///< where it is read: a control file's path, or "RLIMIT_AS (hard) of pid N"
  std::string set;    ///< what it read when the box set it
  std::string found;  ///< what it reads now; "(unreadable: ...)" when it cannot be read
};

/// A per-call limit (CallOptions::limits) the Box cannot enforce: what() names the override,
/// why, and the fix. The box's limits are as they were before the attempt.
class LimitUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A child's containment, as the call path uses it.
class Box {
 public:
  virtual ~Box() = default;

  /// Takes the per-call baselines (OOM count, CPU) and resets the peak memory where the
  /// kernel allows.
  virtual void begin_call() = 0;

  /// True when the kernel OOM-killed a process of the box since begin_call.
  virtual bool oom_killed_since_begin() = 0;

  /// CPU time used since begin_call by every process of the box (user + system).
  virtual std::chrono::microseconds cpu_since_begin() = 0;

  /// What the kernel says the call used; unknown figures stay empty.
  virtual BoxUsage call_usage() = 0;

  /// Reads again every limit the box set for its child and returns those that no longer
  /// read as they did when set (empty: every limit holds). A plugin with the privilege can
  /// write its own limits (root can write its cgroup's files, or raise its hard rlimits);
  /// the engine calls this at call boundaries and replaces a child whose limits changed.
  /// A limit the box did not set is not read; a box that set none reads nothing.
  virtual std::vector<ChangedLimit> changed_limits() = 0;

  /// Sets the overrides in `limits` (memory, process count; CPU time is watched by the host,
  /// and needs only the box's CPU figures) for the call about to be sent, after begin_call():
  /// each written and read back, then watched by changed_limits() as set. Throws
  /// LimitUnavailable when one cannot be enforced here (the box's limits are then as before);
  /// any other exception means the limits may be neither the isolator's nor the call's: the
  /// child must be replaced. Nothing set: nothing is done.
  virtual void set_call_limits(const CallLimits& limits) = 0;

  /// Puts back what set_call_limits replaced (in the reverse order), read back, and watched
  /// as the isolator's again. Nothing replaced: nothing is done. Throws when one cannot be
  /// put back: the child must be replaced.
  virtual void restore_limits() = 0;
};

class ChildProcess;

/// What a ChildProcess reports. Every callback names the child, so that a listener can
/// ignore a child it has already replaced.
class ChildListener {
 public:
  virtual void on_child_ready(ChildProcess& child) = 0;
  /// The start failed; on_child_exit follows once the process is reaped.
  virtual void on_child_start_failed(ChildProcess& child, std::string message) = 0;
  virtual void on_child_message(ChildProcess& child, wire::Message message) = 0;
  virtual void on_child_output(ChildProcess& child, OutputStream stream, std::string line) = 0;
  /// The child broke the protocol (or left the channel without exiting); it is being killed.
  virtual void on_child_broken(ChildProcess& child, std::string reason) = 0;
  virtual void on_child_exit(ChildProcess& child, ExitStatus status) = 0;

 protected:
  ~ChildListener() = default;
};

/// How hard a stop is.
enum class StopSignal {
  ask,    ///< let it clean up (SIGTERM)
  force,  ///< now, with everything it started (SIGKILL and the whole box)
};

/// One pihost process and the channel to it, from spawn to reaping.
class ChildProcess {
 public:
  virtual ~ChildProcess() = default;

  virtual int pid() const = 0;
  /// True while the child has said Hello and is not exited, broken or being killed: only
  /// then may a call be sent to it.
  virtual bool ready() const = 0;
  /// True once its exit has been reported (on_child_exit).
  virtual bool exited() const = 0;

  /// Queues an encoded frame (wire::encode_frame) for the child. Dropped silently once the
  /// channel is closed.
  virtual void send(std::string frame) = 0;
  /// The same for a frame the caller keeps too (a call's Invoke, sent again on a retry).
  virtual void send(std::shared_ptr<const std::string> frame) = 0;
  /// Bytes queued by send() that the child has not taken yet.
  virtual std::size_t unsent_bytes() const = 0;

  /// The child broke the protocol as seen by the caller (an unexpected reply, say): reports
  /// on_child_broken (or a start failure) and kills it.
  virtual void fail_protocol(std::string reason) = 0;

  /// Reads what the child already wrote to its output streams, then emits pending partial
  /// lines: after it, every line written before is reported.
  virtual void collect_output() = 0;

  /// Ends the conversation: pihost exits when it reads end-of-file.
  virtual void close_channel() = 0;

  /// Stops the child; `force` also kills everything in its box. It no longer counts as
  /// ready.
  virtual void stop(StopSignal how) = 0;

  /// The child's confinement. Valid until the child's exit has been reported.
  virtual Box& box() = 0;

  /// Before a spare takes over (Supervision::spare_child): removes whatever is in the
  /// directory this child will link its plugins' libraries into. It waited beside a child
  /// whose plugin ran as the same user and could plant links there for the spare to load;
  /// that child is gone (reaped, its box killed) when this is called, and the spare has loaded
  /// nothing yet. Throws StartError when an entry cannot be removed (the spare must not serve).
  virtual void clear_library_links() = 0;
};

/// Makes children for one supervisor: what Options ask for, resolved once.
class Launcher {
 public:
  virtual ~Launcher() = default;

  /// Spawns pihost in a new box and begins the handshake, on `executor`. Throws StartError
  /// when it cannot even spawn; later failures arrive as on_child_start_failed.
  virtual std::shared_ptr<ChildProcess> start(const boost::asio::any_io_executor& executor,
                                              ChildListener& listener) = 0;

  /// The containment chosen ("cgroup-v2", "cgroup-v1", "rlimit", ...), for results and events.
  virtual const std::string& containment() const = 0;

  /// The limits the containment enforces (only those): the engine watches the per-call CPU
  /// time and names the memory limit in messages.
  virtual const Limits& limits() const = 0;

  /// The executable the children run, for logs.
  virtual std::string pihost() const = 0;
};

/// Finds pihost, chooses and checks the containment, and makes the private directory, as
/// `options` ask. Throws OptionsError or StartError naming the problem and the fix.
std::unique_ptr<Launcher> make_launcher(const Options& options);

/// With Options::hardening.strict, the directories a call's library may lie in (the child
/// sees nothing else): the system's and Hardening::plugin_directories, canonical. Empty when
/// the profile is off. Throws StartError naming a plugin directory that does not exist (or
/// would show too much).
std::vector<std::filesystem::path> loadable_directories(const Options& options);

/// The CPU time and memory of process `pid` now; all zero when it cannot be read.
ResourceUsage read_process_usage(int pid);

/// When `error` (an errno value) says that this process (EMFILE) or the system (ENFILE) ran
/// out of file descriptors: what a StartError's message adds, beginning with "; ": that it
/// ran out, how many descriptors a child needs under each backend, and the fix (a higher
/// RLIMIT_NOFILE or fewer children; for ENFILE, the system's limit). For any other error,
/// "". Every place a start creates a descriptor appends it, so that the message says so
/// wherever the start ran out; one text, so that the figures are stated once.
std::string out_of_descriptors_hint(int error);

/// Names the calling thread (up to 15 characters show), where the system allows.
void name_this_thread(const char* name);

/// How many CPU numbers an affinity may name (0 to this minus one).
int affinity_cpu_count();

/// How many CPUs a child limited to `affinity` (empty: all) may run on; at least 1.
std::size_t usable_cpus(const std::vector<int>& affinity);

}  // namespace isolator::detail
