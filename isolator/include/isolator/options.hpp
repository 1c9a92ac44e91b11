// How a ProcessIsolator starts, talks to and stops its child.
#pragma once

#include <isolator/call_result.hpp>
#include <isolator/events.hpp>
#include <isolator/limits.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace isolator {

/// How the child is stopped, by shutdown() and by the destructor: the channel is closed
/// (pihost exits on its own), then SIGTERM after `graceful_timeout`, then SIGKILL after
/// `terminate_timeout`.
struct ShutdownPolicy {
  std::chrono::milliseconds graceful_timeout{1000};   ///< channel closed → SIGTERM
  std::chrono::milliseconds terminate_timeout{1000};  ///< SIGTERM → SIGKILL
};

/// Per-call choices; the defaults come from Options.
struct CallOptions {
  /// Wall-clock limit for this call, from the moment it is sent to the child. When it
  /// passes, the child is killed and the call fails with `timeout`. Unset: Options::call_timeout.
  std::optional<std::chrono::milliseconds> timeout;
  /// For idempotent work: when the child dies under the call (`crashed` or `exited`), run it
  /// again on the next child, up to this many more times.
  unsigned retries = 0;
  /// Directories (absolute) where the libraries the call's library needs are looked for,
  /// before Options::library_search_path; see there. A relative one makes the call throw
  /// Error, as does, under the strict profile, one outside the directories it shows.
  std::vector<std::filesystem::path> library_search_path;
  /// Called with the child's pid each time the call is sent to a child (again after a retry or
  /// a requeue), before its result can arrive: when a queued call begins to run. It runs on the
  /// isolator's I/O thread (a pool child's thread): it must be quick, must not block, and must
  /// not call a function of the isolator that waits; what it throws is logged and ignored.
  /// isolator/jobs.hpp uses it for a job's state. Empty: nothing is called.
  std::function<void(int pid)> on_start;
  /// Memory, CPU time and process count for this call only, over Options::limits (see
  /// CallLimits for what each backend can enforce); the result says what applied
  /// (CallResult::limits). The next call has the isolator's limits again. Unset: the
  /// isolator's.
  CallLimits limits;
};

/// A function of the host's that a plugin calls by name while one of its calls runs
/// (isolator_call_host, isolator/plugin.hpp): it gets the plugin's bytes and returns the
/// answer's. What it throws reaches the plugin as ISOLATOR_HOST_THREW with its what(). It may
/// run on several threads at once (at most Options::max_service_calls for one isolator), and
/// go on after the call that asked has timed out or the child died (its answer is then
/// dropped) or the isolator was destroyed: it must be thread-safe and must not assume the
/// isolator still exists. An executor whose context no longer runs leaves the plugin waiting
/// until the call's deadline, and the call counted against the bound for good.
struct HostService {
  /// The service: the plugin's bytes in, the answer's bytes out (see above).
  std::function<std::string(std::string_view)> function;
  /// Where it runs. Empty: a pool of the library's threads named "isolator-svc" (at least 4,
  /// twice the CPUs; made at the first use, shared by every isolator of the process, never
  /// joined, so a service that never returns cannot hold up the process's exit), never the
  /// isolator's I/O thread. A service that blocks for long should get an executor of its own.
  /// An isolator's own I/O executor is allowed, but the isolator then waits while it runs.
  boost::asio::any_io_executor executor;
};

/// When a dead child is replaced.
enum class RestartPolicy {
  never,       ///< never: after the child dies, calls fail with `restart_limit` until reset()
  on_failure,  ///< when it died abnormally (a signal, or a non-zero exit)
  always,      ///< whenever it died, except at shutdown
};

/// How dead children are replaced. A child that dies before a method runs (pihost cannot
/// start, the handshake fails, the library cannot load or its static initializers crash, or
/// it dies between calls) is a restart storm: at most `max_restarts` such restarts within any
/// `restart_window` (Erlang's supervisor intensity and period), each after a backoff that
/// doubles from `backoff_initial` up to `backoff_max` with their number in the window, with
/// +-20 % jitter; older ones are forgotten. The death after the limit makes the isolator
/// failed: every call fails at once with `restart_limit` until ProcessIsolator::reset().
/// A child that dies inside a method is that call's failure and never makes the isolator
/// failed; consecutive such deaths with no successful call between them back off the same way
/// (by the length of the streak), so a plugin crashing on every input cannot make the host
/// spawn children as fast as calls come.
struct Supervision {
  RestartPolicy restart = RestartPolicy::on_failure;  ///< when a dead child is replaced
  unsigned max_restarts = 5;                          ///< storm restarts allowed within the window
  std::chrono::milliseconds restart_window{30'000};   ///< the window restarts are counted in
  std::chrono::milliseconds backoff_initial{10};      ///< the first restart's delay (of a storm or a streak)
  std::chrono::milliseconds backoff_max{2'000};       ///< the longest delay

  /// The host pings the child this often, during calls and between them; pihost answers
  /// whatever a call is doing. Zero disables the heartbeat.
  std::chrono::milliseconds heartbeat_interval{1'000};
  /// A child that has not answered for this long is stopped (SIGSTOP) or wedged: it is
  /// killed and replaced, and the call it was running fails with `timeout`. Must be longer
  /// than heartbeat_interval (the silence is checked once per interval).
  std::chrono::milliseconds heartbeat_timeout{5'000};

  /// Keep a second child started and idle beside the one in service, so that replacing a
  /// dead child is a swap, not a start: the spare takes over after the restart's backoff (a
  /// crash loop is still held back by the budget above), and a new spare starts in the
  /// background. Also used for the next call after a child exited cleanly; not when a changed
  /// library replaces a child (Options::reload_changed_libraries), since the old child still
  /// runs while it stops. Costs an idle pihost per isolator (and per pool slot), with its own
  /// cgroup where the backend makes one. The spare is spawned on the isolator's I/O thread
  /// once the child it backs has answered its first call (at once if none is waiting), so a
  /// call arriving meanwhile waits for that spawn. A spare that dies unused is replaced when
  /// the next child enters service. Needs a restart policy other than never (create() throws
  /// OptionsError). samplehost `--spare-child`.
  bool spare_child = false;
};

/// What keeps the plugin away from the host. It is on by default: with no option set, a plugin
/// cannot signal the host or any process outside its child, cannot read or write the host's
/// memory, environment or descriptors, cannot reach another isolator's channel or files,
/// cannot leave its cgroup or change its limits, and holds no capability. See
/// docs/sandbox.md for each measure (its own PID, mount, user, IPC and cgroup namespaces, a
/// read-only view of the host's files, a seccomp filter) and what each stops.
///
/// A measure this machine cannot provide (for instance unprivileged user namespaces, which
/// some distributions turn off) is logged once at warn level, naming the measure, why it is
/// missing and the fix; `probe()` and `samplehost --check` report the same. With
/// `require` set, its absence fails the start instead.
///
/// One trust domain: a plugin shares pihost's process, so it can forge the results of its own
/// child's calls. It cannot reach another child, another isolator, or a later call after its
/// child is replaced.
struct Protection {
  /// The host trusts its plugins: none of the measures above (the limits, the containment and
  /// Options::hardening still apply). samplehost `--trusted-plugin`.
  bool trusted_plugin = false;
  /// A measure this machine cannot provide fails the start with a StartError naming it and
  /// the fix, rather than a warning. samplehost `--require-protection`.
  bool require = false;
  /// The user and group the child runs as when the host runs as root (euid 0), so that the
  /// plugin owns none of root's files and reaches no root-only socket. The pihost executable
  /// and the plugins must be readable by this user; give a user of its own rather than
  /// sharing `nobody` with other services. Ignored when the host is not root: the child then
  /// runs as the host's own user.
  std::uint32_t root_host_uid = 65534;
  /// The group that goes with root_host_uid.
  std::uint32_t root_host_gid = 65534;
  /// Paths (directories or files) outside the child's working directory and /tmp that the
  /// plugin may write. Everything else of the host's filesystem is read-only to it.
  std::vector<std::filesystem::path> writable_paths;
};

/// Optional confinement beyond the limits, off by default. A measure asked for that this
/// machine cannot provide fails the start with a StartError naming the fix; `probe()` (and
/// `samplehost --check`) reports what is available.
struct Hardening {
  /// The child gets a network namespace of its own with only a loopback interface, down: no
  /// network at all, not even the host's loopback. Needs root (CAP_SYS_ADMIN) or
  /// unprivileged user namespaces (the child then also gets a user namespace mapping just
  /// the host's user).
  bool no_network = false;
  /// A seccomp filter makes the system calls a plugin has no business with fail with EPERM:
  /// ptrace, process_vm_readv/writev, mount and umount2, pivot_root, chroot, kexec_load and
  /// kexec_file_load, init_module, finit_module and delete_module, reboot, swapon and swapoff,
  /// acct, bpf, perf_event_open, keyctl, add_key and request_key, userfaultfd,
  /// open_by_handle_at, name_to_handle_at, iopl, ioperm, syslog, quotactl, setns and unshare.
  /// x86-64 only; on this architecture the x32 system calls are refused too.
  bool deny_syscalls = false;

  /// The strict profile (samplehost `--sandbox`): the default sandbox (Options::protection,
  /// which must not be `trusted_plugin`), and also:
  /// - a filesystem of only what a plugin needs, read-only: the system's programs and
  ///   libraries (/usr, and /bin, /sbin, /lib* as links or directories), a few files of /etc
  ///   (the loader's cache, passwd, group, localtime, nsswitch.conf, hosts, alternatives),
  ///   /dev/null, zero, full, random and urandom, pihost's directory and `plugin_directories`,
  ///   each at its canonical path (links resolved); writable only the private directory (the
  ///   working directory's parent, which holds the channel's socket), a private /tmp and
  ///   /dev/shm (each as large as Limits::memory_bytes when set), and
  ///   Options::protection.writable_paths;
  /// - no network (as `no_network`), and UTS and IPC namespaces of its own;
  /// - a seccomp allow-list instead of `deny_syscalls`' deny-list: a call not on it fails with
  ///   EPERM (clone3 with ENOSYS, so that libc uses clone, whose flags the filter checks);
  ///   docs/seccomp-allow-list.md lists it; add calls with `allow_syscalls`.
  /// pihost's threads, the plugin's and every program it starts are under all of it. A call
  /// for a library outside the system's directories and `plugin_directories` throws Error
  /// when it is made, before anything runs; one inside is sent with its links resolved (the
  /// method's argv[0] is that path). Where this machine cannot make the sandbox, the
  /// start fails with StartError: there is no fallback to a weaker profile. (A missing
  /// "other-uid" is reported as by the default sandbox.)
  bool strict = false;
  /// With `strict`: the directories plugins (and the programs they start) may be loaded from,
  /// and read, shown read-only. Each must exist and must not hold /tmp, /dev or /proc (else
  /// create() throws StartError naming it).
  std::vector<std::filesystem::path> plugin_directories;
  /// With `strict`: system calls allowed besides the profile's list, by their x86-64 names
  /// ("acct", "syslog"). An unknown name, or one the profile never allows (ptrace, mount,
  /// setns, io_uring_setup...: docs/seccomp-allow-list.md), makes create() throw OptionsError.
  std::vector<std::string> allow_syscalls;

  /// True when any measure is asked for.
  bool any() const { return no_network || deny_syscalls || strict; }
};

/// Everything a ProcessIsolator (and each child of an IsolatorPool) is created with. The
/// defaults make a working isolator: `ProcessIsolator::create({})`. Invalid values make
/// create() throw OptionsError naming the field: start_timeout, call_timeout, the shutdown
/// timeouts, heartbeat_timeout and restart_window must be positive, heartbeat_interval and
/// backoff_initial not negative, backoff_max not shorter than backoff_initial,
/// max_frame_bytes within 4 KiB..1 GiB, max_line_bytes positive, max_result_bytes (when
/// set) within 1..max_frame_bytes - 128, and every environment
/// variable name non-empty and without '='. See also Limits.
struct Options {
  /// The pihost executable. Empty: $ISOLATOR_PIHOST (an empty value counts as unset), then
  /// the pihost installed with the library (PREFIX/libexec/isolator/pihost, PREFIX being the
  /// parent of the directory of the binary holding the library's code), then `pihost` next
  /// to the running executable, then the pihost of the prefix the library was built for
  /// (/usr/libexec/isolator/pihost for the Debian package), then the build tree's; the start
  /// error lists every place tried. This path or $ISOLATOR_PIHOST, when given, is the only
  /// one tried: if it is missing, a directory or not executable, create() throws StartError
  /// naming it, what is wrong and the fix, rather than running another pihost.
  std::filesystem::path pihost_path;

  /// How long a child may take from spawn to its Hello before the start fails.
  std::chrono::milliseconds start_timeout{5000};

  /// Default wall-clock limit of every call (see CallOptions::timeout). Unset: none.
  std::optional<std::chrono::milliseconds> call_timeout;

  /// Names of host environment variables the child inherits (when set in the host). Every
  /// other variable of the host is invisible to the child and its plugins.
  std::vector<std::string> inherit_environment{"PATH", "LANG", "LC_ALL", "TZ"};

  /// Variables set in the child, after (and overriding) the inherited ones.
  std::vector<std::pair<std::string, std::string>> environment;

  /// Output kept in a CallResult per call, in bytes of line text; past it, lines still reach
  /// `on_output` but the result keeps only a truncation marker.
  std::size_t max_output_bytes_per_call = std::size_t{1} << 20;

  /// The most result bytes a call may hand back (isolator_result_set, CallResult::bytes);
  /// more fails the call with FailureKind::result_too_large, which names both sizes, and the
  /// child stays. Unset: 1 MiB, or less when Options::max_frame_bytes leaves less room
  /// (max_frame_bytes - 128, the reply's other fields). Set: between 1 and that room, or
  /// create() throws OptionsError. See result_bytes_cap().
  std::optional<std::size_t> max_result_bytes;

  /// A line longer than this is delivered in pieces of this size (bounds host memory when a
  /// plugin writes without newlines).
  std::size_t max_line_bytes = std::size_t{64} << 10;

  /// Where the libraries a plugin needs (its DT_NEEDED entries, and theirs) are looked for
  /// besides the plugin's own directory, which comes first: absolute directories, searched in
  /// order after CallOptions::library_search_path, all before the system's places
  /// (LD_LIBRARY_PATH as set for the child, the loader's cache, /usr/lib...). The plugin needs
  /// no RUNPATH, and nothing the plugin starts sees a changed environment. One found nowhere
  /// fails the call with FailureKind::dependency_not_found, naming it and where it was looked
  /// for. A library already loaded in the child is used for every later need of its name (the
  /// loader's rule). A relative directory makes create() throw OptionsError; under the strict
  /// profile so does one outside Hardening::plugin_directories and the system's directories
  /// (the child could not see it). See docs/architecture.md, "Plugin libraries".
  std::vector<std::filesystem::path> library_search_path;

  /// The host's services, by name, that a plugin may call during a call (HostService;
  /// isolator_call_host). A name not here is answered ISOLATOR_HOST_UNKNOWN_SERVICE, with the
  /// names there are. A service without a function makes create() throw OptionsError.
  std::map<std::string, HostService, std::less<>> services;

  /// How many service calls of this isolator's children may run at once (at least 1): more
  /// are answered ISOLATOR_HOST_BUSY at once, so a plugin cannot make the host run more than
  /// this many for it; a service still running for a child that died or was replaced counts
  /// until it returns. (Each child of an IsolatorPool has its own bound.) A service call
  /// counts against its call's deadline like the rest of the call. A child that sends service
  /// calls while it leaves more than 4 * max_frame_bytes (at least 1 MiB) of what the host
  /// sent it unread breaks the protocol, and is killed: each call is answered, so such a
  /// child would otherwise grow the host's memory without end.
  unsigned max_service_calls = 4;

  /// When the file at a called library's path is no longer the one the child loaded (its
  /// device, inode, size, modification or change time differ, or it is gone), the child is
  /// replaced before the call is sent, so that the call runs the file's code now: the old
  /// child is stopped (ExitCause::library_changed), a LibraryChangedEvent says why, and the
  /// data set with set_data is replayed into the new child as after a restart. The check is
  /// one stat() of the library per call, on the I/O thread. Only the called library is
  /// compared, not the libraries it needs. False: a library stays loaded, per path, for the
  /// child's life (as for hosts that never replace their plugins).
  bool reload_changed_libraries = true;

  /// Largest frame accepted from (and sent to) the child, in bytes. A larger one from the
  /// child is a protocol error; a call (or set_data value) that would exceed it is refused
  /// when it is made: async_invoke, invoke and set_data throw Error.
  std::size_t max_frame_bytes = std::size_t{16} << 20;

  /// How the child is stopped by shutdown() and the destructor.
  ShutdownPolicy shutdown;

  /// How a dead child is replaced.
  Supervision supervision;

  /// How the child is confined; see docs/limits.md.
  Containment containment = Containment::automatic;

  /// What the child may use. Every limit set is read back after it is set.
  Limits limits;

  /// False (the default): the child dumps no core (RLIMIT_CORE 0, and pihost makes itself
  /// not dumpable, which also keeps processes of the same user from ptrace-attaching to it).
  /// True: both are left as the host has them, for debugging a crashing plugin.
  bool allow_core_dumps = false;

  /// True (the default): a call that crashes (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT)
  /// fails with a CrashReport in Failure::crash: the crashed thread's stack, with function
  /// names, files and lines where the libraries' symbols and debug information give them
  /// (docs/crash-reports.md). It costs nothing per call; pihost installs a signal handler at
  /// start. The names are read inside the child, by pihost's crash reporter, within half of
  /// supervision.heartbeat_timeout (at most 2 s). False: no handler; a crash ends the child at once, and
  /// Failure::crash stays empty. With allow_core_dumps, no handler either (the crashed
  /// process's core is kept, which the crash reporter would replace): Failure::crash then
  /// has no stack and a note saying so.
  bool crash_reports = true;

  /// True (the default): each child slot (the isolator, each child of a pool) publishes a
  /// small record of itself for `isolatorctl`, the operator's list of live isolates
  /// (docs/isolatorctl.md): the host's pid and executable, pihost's pid, the containment and
  /// limits, and a calls counter, which costs a call one relaxed atomic add on a shared
  /// mapping. The record is rewritten when a new child starts and removed at shutdown; a
  /// later host (or isolatorctl) sweeps those of a host that died. A directory that cannot
  /// be made or is not safe to use is logged (warn), never an error. False: nothing is
  /// published.
  bool publish_records = true;
  /// Where records are published. Empty: $ISOLATOR_RUNTIME_DIR, else
  /// $XDG_RUNTIME_DIR/isolator, else /run/isolator for root, else /tmp/isolator-UID (UID:
  /// the user's numeric id), which is where isolatorctl looks. It is made mode 0700 and must
  /// be the user's own and writable by nobody else. A relative path makes create() throw
  /// OptionsError.
  std::filesystem::path records_directory;

  /// Network isolation and a system-call deny list for the child; see Hardening.
  Hardening hardening;

  /// What keeps the plugin away from the host; on by default. See Protection.
  Protection protection;

  /// When a requested limit cannot be enforced by the chosen backend: true fails the start
  /// with a StartError naming the limit, the reason and the fix; false logs a warning and
  /// runs without it (each CallResult names the backend that confined the call).
  bool require_limits = false;

  /// A delegated cgroup v2 directory to create the child cgroups under. Empty: the host's
  /// own cgroup (it must be writable, e.g. a systemd unit with Delegate=yes).
  std::filesystem::path cgroup_v2_base;

  /// Called for every lifecycle event (events.hpp). Must not throw; an exception it throws
  /// is logged and ignored. Runs where `callback_executor` says.
  std::function<void(const Event&)> on_event;

  /// Called for every line the child writes to stdout or stderr, as it arrives (the
  /// `output(stream, line)` event). Must not throw; an exception is logged and ignored.
  /// Runs where `callback_executor` says.
  std::function<void(OutputStream, std::string_view)> on_output;

  /// Where on_event and on_output run. Unset (the default): on the isolator's own I/O
  /// thread, synchronously, so they must not block (a slow callback delays calls). Set: each
  /// is posted to this executor with a copy of its event or line, in the order they
  /// happened; give a strand or a single-threaded io_context to keep that order. Posted
  /// callbacks may still run after the isolator is shut down or destroyed (they keep their
  /// own copy of the std::functions), and they run only while the executor is being run.
  boost::asio::any_io_executor callback_executor;
};

/// The result-bytes cap that applies under `options`: Options::max_result_bytes when set,
/// else 1 MiB or max_frame_bytes - 128, whichever is smaller. Never throws; any thread.
std::size_t result_bytes_cap(const Options& options);

}  // namespace isolator
