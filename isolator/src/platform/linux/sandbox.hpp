// Options::protection on Linux: what the default sandbox is made of, planned once per
// isolator on the host, applied by the spawner (spawn.cpp) between clone and exec.
//
// The child of a sandboxed spawn, in the order the spawner applies it:
//  1. when the host is root and the sandbox user can reach pihost, it becomes that user
//     (Protection::root_host_uid/gid, no supplementary groups);
//  2. a user namespace of its own, mapping its single uid and gid; when the host is root
//     and no other user can be had, root is mapped to a non-zero uid inside, so that exec
//     leaves no capability;
//  3. mount, PID, IPC and cgroup namespaces (and a network one for Hardening::no_network,
//     network and UTS ones for Hardening::strict);
//  4. in the mount namespace: private propagation; then either
//     - (default) every mount read-only; an empty read-only tmpfs over the cgroup
//       filesystems; fresh tmpfs on /dev/shm and the private directory's base; /tmp, the
//       private directory and Protection::writable_paths, taken before, put back writable;
//     - (Hardening::strict) a new root on a tmpfs holding only what a plugin needs (StrictRoot),
//       entered with pivot_root;
//     and the working directory entered again;
//  5. an empty capability bounding set and no ambient capabilities;
//  6. a PID namespace init (pihost --pid-namespace-init, PID 1) that mounts the namespace's
//     own /proc (and, strict, detaches the old root); then pihost itself, PID 2, created as the host's own child (CLONE_PARENT),
//     so the host watches and reaps it exactly as an unsandboxed pihost;
//  7. in pihost's process only: its own session, then the seccomp filter, then exec.
#pragma once

#include <isolator/options.hpp>
#include <isolator/probe.hpp>

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace isolator::detail {

/// A path left writable inside the sandbox: a copy of its mount, taken before the host's
/// mounts are made read-only and put back at the same path.
struct WritableBind {
  std::string path;                     ///< canonical
  bool directory = true;                ///< a directory (else a file)
  std::vector<std::string> make_first;  ///< directories to create first, under a fresh tmpfs
};

/// One step of building the strict profile's filesystem (Hardening::strict) under the new
/// root's tmpfs, in order: parents before what they hold.
struct RootStep {
  enum class Kind {
    directory,  ///< made (an existing one is fine)
    file,       ///< an empty file made, as the mount point of a file's bind
    symlink,    ///< a link to `source`
    tmpfs,      ///< a fresh writable tmpfs (mode 1777)
    bind,       ///< the host's `source`, with what is mounted under it
  };
  Kind kind = Kind::directory;
  std::string target;     ///< where, under the new root's mount point
  std::string source;     ///< bind: the host's path; symlink: the link's text; tmpfs: its options
  bool writable = false;  ///< bind: left writable (else read-only)
};

/// The strict profile's filesystem: a tmpfs mounted over `mount_point`, filled by `steps`,
/// made read-only, then made the root (pivot_root); the host's old root is detached once the
/// PID namespace's init has mounted its /proc (which needs a proc mount in view).
struct StrictRoot {
  bool enabled = false;
  std::string mount_point;  ///< the private working directory, in the host's tree
  std::string old_root;     ///< where pivot_root puts the old root, under mount_point
  std::vector<RootStep> steps;
};

struct SandboxPlan {
  bool enabled = false;
  /// Root host, sandbox user reachable: become this uid and gid before the user namespace.
  std::optional<uid_t> switch_uid;
  std::optional<gid_t> switch_gid;
  std::string uid_map;  ///< "INSIDE OUTSIDE 1"
  std::string gid_map;
  int namespaces = 0;                    ///< CLONE_NEW* flags besides CLONE_NEWUSER
  std::vector<std::string> hide;         ///< covered by an empty read-only tmpfs
  /// Covered the same way after `writable` is put back: a path inside a writable one
  /// (isolatorctl's records under /tmp), which putting that back would uncover.
  std::vector<std::string> hide_last;
  std::vector<std::string> fresh_tmpfs;  ///< covered by a fresh writable tmpfs (mode 1777)
  /// The mount options of each fresh tmpfs: "mode=1777", and ",size=" the memory limit when
  /// one is set (the rlimit backend does not count a tmpfs's pages).
  std::string fresh_tmpfs_options = "mode=1777";
  std::vector<WritableBind> writable;    ///< bound back writable, in this order
  /// Made read-only again after `writable`: pihost's directory when a writable path holds it
  /// (a build tree under /tmp), so that the plugin cannot replace pihost there.
  std::vector<std::string> read_only_again;
  StrictRoot root;        ///< Hardening::strict: the filesystem made for it
  std::string workdir;    ///< entered again once the mounts are made
  uid_t child_uid = 0;    ///< the uid the host sees the child as
  std::string init_flag;  ///< pihost's flag for the PID namespace init
};

/// What a sandbox would be made of here, and which parts are missing. Used by the launcher
/// and by probe().
struct SandboxChoice {
  SandboxPlan plan;
  /// Measures this machine cannot provide, each with why and the fix ("other-uid": the host
  /// is root but the sandbox user cannot reach pihost).
  std::vector<LimitCheck> missing;
};

/// Plans the sandbox of one isolator: `pihost` is the executable, `private_directory` the
/// isolator's private directory (its working directory is `private_directory`/work).
/// Throws StartError when a writable path does not exist.
SandboxChoice plan_sandbox(const Options& options, const std::filesystem::path& pihost,
                           const std::filesystem::path& private_directory);

/// With Hardening::strict, the host directories (canonical) a library may be loaded from:
/// the system's (/usr and the /lib* directories that are not links into it) and
/// Hardening::plugin_directories. Throws StartError naming a plugin directory that does not
/// exist, is not a directory, or holds /tmp, /dev or /proc (it would show the host's).
std::vector<std::filesystem::path> strict_library_directories(const Hardening& hardening);

/// The uid (and gid) the child will run as, as the host sees it: the host's own, or the
/// sandbox user's.
uid_t sandbox_child_uid(const SandboxPlan& plan);
gid_t sandbox_child_gid(const SandboxPlan& plan);

/// Gives `directory` (a private directory) and its working directory, if made, to the user
/// pihost runs as: the sandbox user under a root host, or back to the host's. Throws
/// StartError naming the directory.
void hand_over_private_directory(const std::filesystem::path& directory, uid_t uid, gid_t gid);

/// The checks of the sandbox for probe(): "sandbox" (whether the namespaces and mounts can be
/// made here, found by starting pihost under them once per process) and, for a root host,
/// "other-uid".
std::vector<LimitCheck> check_sandbox(const Options& options);

/// Why the strict profile's root cannot be made here (found by starting pihost in it once per
/// process), or empty. For probe(); the allow-list's own check is check_hardening()'s.
std::string strict_trial_failure(const Options& options);

/// The fix to say beside a failure of the sandbox's set-up.
std::string sandbox_fix();

}  // namespace isolator::detail
