#include "sandbox.hpp"

#include "containment/cgroupfs.hpp"
#include "pihost_locator.hpp"
#include "private_directory.hpp"
#include "records/record_directory.hpp"
#include "spawn.hpp"

#include <isolator/errors.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <system_error>

namespace isolator::detail {
namespace {

namespace fs = std::filesystem;

bool is_under(const fs::path& path, const fs::path& directory) {
  auto p = path.begin();
  for (auto d = directory.begin(); d != directory.end(); ++d, ++p) {
    if (d->empty()) continue;  // a trailing separator
    if (p == path.end() || *p != *d) return false;
  }
  return true;
}

// Where the cgroup filesystems are mounted, to be covered: /sys/fs/cgroup when a hierarchy
// is mounted there or under it (v2 itself, or the v1 controllers; covering it covers them
// all), and any hierarchy mounted elsewhere.
std::vector<std::string> cgroup_mount_points() {
  const fs::path usual = "/sys/fs/cgroup";
  std::vector<std::string> cover;
  for (const auto& point : cgroupfs::Hierarchies::read().mount_points()) {
    const std::string covered = is_under(point, usual) ? usual.string() : point.string();
    if (std::find(cover.begin(), cover.end(), covered) == cover.end()) cover.push_back(covered);
  }
  return cover;
}

// Whether `uid`/`gid` may search every directory on the way to `path` and read and execute
// `path` itself (root's override aside); the first place that stops them otherwise.
std::optional<std::string> unreachable_by(const fs::path& path, uid_t uid, gid_t gid, bool executable) {
  const auto allowed = [&](const struct stat& st, mode_t user, mode_t group, mode_t other) {
    if (st.st_uid == uid) return (st.st_mode & user) == user;
    if (st.st_gid == gid) return (st.st_mode & group) == group;
    return (st.st_mode & other) == other;
  };
  std::error_code error;
  const fs::path canonical = fs::canonical(path, error);
  if (error) return path.string() + ": " + error.message();
  fs::path walked = "/";
  for (auto part = canonical.begin(); part != canonical.end(); ++part) {
    if (part == canonical.begin()) continue;  // the root
    struct stat st {};
    if (::stat(walked.c_str(), &st) != 0) return walked.string() + ": " + std::strerror(errno);
    if (!allowed(st, S_IXUSR, S_IXGRP, S_IXOTH))
      return "the directory " + walked.string() + " is not searchable";
    walked /= *part;
  }
  struct stat st {};
  if (::stat(canonical.c_str(), &st) != 0) return canonical.string() + ": " + std::strerror(errno);
  if (executable && !allowed(st, S_IRUSR | S_IXUSR, S_IRGRP | S_IXGRP, S_IROTH | S_IXOTH)) {
    return canonical.string() + " is not readable and executable";
  }
  if (!executable && !allowed(st, S_IXUSR, S_IXGRP, S_IXOTH))
    return "the directory " + canonical.string() + " is not searchable";
  return std::nullopt;
}

// The fresh tmpfs mounts a path falls under, if any.
std::optional<fs::path> fresh_cover_of(const fs::path& path, const std::vector<std::string>& fresh) {
  for (const auto& cover : fresh) {
    if (path != cover && is_under(path, cover)) return fs::path(cover);
  }
  return std::nullopt;
}

// isolatorctl's records (docs/isolatorctl.md) are out of the plugin's sight: a plugin that
// could write them could plant a record for isolatorctl, or truncate the calls counter the
// host has mapped (SIGBUS in the host). A directory under a fresh tmpfs is covered already;
// one inside a writable path is covered after that path is put back; any other, at once.
// It is made first (as the host would make it) so that there is something to cover.
void hide_records(const Options& options, SandboxPlan& plan) {
  if (!options.publish_records) return;
  const fs::path records = records::directory(options.records_directory);
  if (!records::check(records, true).empty()) return;  // nothing is published there
  if (fresh_cover_of(records, plan.fresh_tmpfs)) return;
  for (const auto& bind : plan.writable) {
    if (is_under(records, bind.path)) {
      plan.hide_last.push_back(records.string());
      return;
    }
  }
  plan.hide.push_back(records.string());
}

WritableBind writable_bind(const fs::path& path, const std::vector<std::string>& fresh) {
  WritableBind bind;
  bind.path = path.string();
  bind.directory = fs::is_directory(path);
  if (const auto cover = fresh_cover_of(path, fresh)) {
    // Under a fresh tmpfs the path does not exist yet: its directories are made first.
    fs::path made = *cover;
    const fs::path relative = path.lexically_relative(*cover);
    for (auto part = relative.begin(); part != relative.end(); ++part) {
      made /= *part;
      if (!bind.directory && std::next(part) == relative.end()) break;  // the file itself
      bind.make_first.push_back(made.string());
    }
  }
  return bind;
}

// The strict profile's system directories: links at the root (/bin -> usr/bin on a merged
// /usr) are made again as links, directories shown read-only.
constexpr const char* system_directories[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
// What of /etc a plugin's libraries read: the loader's cache and configuration, users and
// groups (getpwuid), the time zone, name service configuration, and the alternatives links
// of /usr/bin.
constexpr const char* etc_entries[] = {
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",  "/etc/passwd", "/etc/group",
    "/etc/localtime",   "/etc/timezone",   "/etc/nsswitch.conf", "/etc/hosts",  "/etc/alternatives"};
constexpr const char* device_nodes[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};

// One of system_directories as it is here: a link (its text) or a directory. Those that are
// neither, or are missing, are left out.
struct SystemEntry {
  fs::path path;
  std::optional<std::string> link;
};

std::vector<SystemEntry> system_entries() {
  std::vector<SystemEntry> entries;
  for (const char* path : system_directories) {
    std::error_code error;
    const auto status = fs::symlink_status(path, error);
    if (error) continue;
    if (fs::is_symlink(status)) {
      const auto text = fs::read_symlink(path, error);
      if (!error) entries.push_back({path, text.string()});
    } else if (fs::is_directory(status)) {
      entries.push_back({path, std::nullopt});
    }
  }
  return entries;
}

std::size_t depth(const fs::path& path) {
  return static_cast<std::size_t>(std::distance(path.begin(), path.end()));
}

// Plans the strict profile's root: what is shown, where, and the directories on the way.
class StrictRootPlanner {
 public:
  explicit StrictRootPlanner(std::string mount_point) {
    root_.enabled = true;
    root_.mount_point = std::move(mount_point);
  }

  void bind(const fs::path& source, const fs::path& target, bool writable) {
    entries_.push_back({RootStep::Kind::bind, target, source.string(), writable});
  }
  void link(const fs::path& target, const std::string& text) {
    entries_.push_back({RootStep::Kind::symlink, target, text, false});
  }
  /// `data`: the tmpfs's mount options ("mode=1777,size=...").
  void tmpfs(const fs::path& target, const std::string& data) {
    entries_.push_back({RootStep::Kind::tmpfs, target, data, true});
  }
  void directory(const fs::path& target) {
    entries_.push_back({RootStep::Kind::directory, target, "", false});
  }

  StrictRoot finish() {
    // Parents first. At one depth, what is made comes before what is bound, and a read-only
    // bind after a writable one: at the same path the read-only one is mounted last, on top
    // (a writable path that is pihost's directory leaves pihost read-only).
    const auto rank = [](const Entry& e) { return e.kind != RootStep::Kind::bind ? 0 : e.writable ? 1 : 2; };
    std::stable_sort(entries_.begin(), entries_.end(), [&](const Entry& a, const Entry& b) {
      return depth(a.target) != depth(b.target) ? depth(a.target) < depth(b.target) : rank(a) < rank(b);
    });
    const auto read_only_bind = [](const Entry& e) { return e.kind == RootStep::Kind::bind && !e.writable; };
    std::vector<Entry> kept;
    for (const auto& entry : entries_) {
      // A read-only bind inside another read-only one shows nothing new (the other is bound
      // with its submounts), unless a writable bind lies between them.
      const bool covered = read_only_bind(entry) &&
                           std::any_of(kept.begin(), kept.end(), [&](const Entry& outer) {
                             if (!read_only_bind(outer) || !is_under(entry.target, outer.target))
                               return false;
                             return std::none_of(kept.begin(), kept.end(), [&](const Entry& between) {
                               return between.kind == RootStep::Kind::bind && between.writable &&
                                      is_under(between.target, outer.target) &&
                                      is_under(entry.target, between.target);
                             });
                           });
      if (!covered) kept.push_back(entry);
    }
    std::vector<std::string> made;
    const auto make_parents = [&](const fs::path& target) {
      fs::path walked = "/";
      for (auto part = std::next(target.begin()); part != target.end() && std::next(part) != target.end();
           ++part) {
        walked /= *part;
        if (std::find(made.begin(), made.end(), walked.string()) != made.end()) continue;
        made.push_back(walked.string());
        root_.steps.push_back({RootStep::Kind::directory, inside(walked), "", false});
      }
    };
    for (const auto& entry : kept) {
      make_parents(entry.target);
      const std::string target = inside(entry.target);
      if (entry.kind == RootStep::Kind::bind) {
        std::error_code error;
        const bool directory = fs::is_directory(entry.source, error);
        root_.steps.push_back(
            {directory ? RootStep::Kind::directory : RootStep::Kind::file, target, "", false});
        if (directory) made.push_back(entry.target.string());
      } else if (entry.kind == RootStep::Kind::tmpfs) {
        root_.steps.push_back({RootStep::Kind::directory, target, "", false});
        made.push_back(entry.target.string());
      } else if (entry.kind == RootStep::Kind::directory) {
        made.push_back(entry.target.string());
      }
      root_.steps.push_back({entry.kind, target, entry.source, entry.writable});
    }
    root_.old_root = inside("/.old-root");
    root_.steps.push_back({RootStep::Kind::directory, root_.old_root, "", false});
    return std::move(root_);
  }

 private:
  struct Entry {
    RootStep::Kind kind;
    fs::path target;
    std::string source;
    bool writable;
  };
  std::string inside(const fs::path& path) const { return root_.mount_point + path.string(); }

  StrictRoot root_;
  std::vector<Entry> entries_;
};

// The mount options of a tmpfs the child gets for itself (/dev/shm, the strict profile's
// /tmp): its pages are in memory, so it is as large as the child's memory limit where one is
// set. The cgroup backends charge them to the child anyway; the rlimit backend does not count
// them at all.
std::string private_tmpfs_options(const Options& options) {
  std::string data = "mode=1777";
  if (options.limits.memory_bytes) data += ",size=" + std::to_string(*options.limits.memory_bytes);
  return data;
}

fs::path existing_directory(const fs::path& path, const char* field) {
  std::error_code error;
  const fs::path canonical = fs::canonical(path, error);
  if (error || !fs::is_directory(canonical, error)) {
    throw StartError(std::string(field) + " names " + path.string() + ", which " +
                     (error ? "cannot be used: " + error.message() : std::string("is not a directory")) +
                     "; give an existing directory");
  }
  return canonical;
}

// A plugin directory that would show what the profile hides, or replace what it makes.
void refuse_too_broad(const fs::path& directory) {
  for (const char* made : {"/tmp", "/dev", "/proc"}) {
    if (is_under(made, directory)) {
      throw StartError("Options::hardening.plugin_directories names " + directory.string() +
                       ", which holds " + made +
                       ": the strict profile would show the host's own instead of the child's; give the "
                       "directories the plugins are in");
    }
  }
}

StrictRoot plan_strict_root(const Options& options, const fs::path& pihost_directory,
                            const fs::path& private_directory) {
  StrictRootPlanner planner((private_directory / PrivateDirectory::working_directory_name).string());
  const std::string tmpfs_data = private_tmpfs_options(options);
  for (const auto& entry : system_entries()) {
    if (entry.link) planner.link(entry.path, *entry.link);
    else planner.bind(entry.path, entry.path, false);
  }
  planner.directory("/etc");
  for (const char* path : etc_entries) {
    std::error_code error;
    if (fs::exists(path, error)) planner.bind(path, path, false);
  }
  planner.directory("/dev");
  for (const char* path : device_nodes) {
    std::error_code error;
    if (fs::exists(path, error)) planner.bind(path, path, false);
  }
  planner.link("/dev/fd", "/proc/self/fd");
  planner.link("/dev/stdin", "/proc/self/fd/0");
  planner.link("/dev/stdout", "/proc/self/fd/1");
  planner.link("/dev/stderr", "/proc/self/fd/2");
  planner.tmpfs("/dev/shm", tmpfs_data);
  planner.directory("/proc");
  planner.tmpfs("/tmp", tmpfs_data);
  planner.bind(pihost_directory, pihost_directory, false);
  for (const auto& directory : options.hardening.plugin_directories) {
    const fs::path canonical = existing_directory(directory, "Options::hardening.plugin_directories");
    refuse_too_broad(canonical);
    planner.bind(canonical, canonical, false);
  }
  planner.bind(private_directory, private_directory, true);
  for (const auto& path : options.protection.writable_paths) {
    std::error_code error;
    const fs::path canonical = fs::canonical(path, error);
    if (error) {
      throw StartError("Options::protection.writable_paths names " + path.string() +
                       ", which cannot be used: " + error.message() + "; give an existing file or directory");
    }
    planner.bind(canonical, canonical, true);
  }
  return planner.finish();
}

}  // namespace

std::vector<fs::path> strict_library_directories(const Hardening& hardening) {
  std::vector<fs::path> directories;
  if (!hardening.strict) return directories;
  for (const auto& entry : system_entries()) {
    if (!entry.link) directories.push_back(entry.path);
  }
  for (const auto& directory : hardening.plugin_directories) {
    directories.push_back(existing_directory(directory, "Options::hardening.plugin_directories"));
    refuse_too_broad(directories.back());
  }
  return directories;
}

std::string sandbox_fix() {
  return "allow unprivileged user namespaces (user.max_user_namespaces > 0; on Ubuntu 23.10 and later "
         "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for the host; "
         "kernel.unprivileged_userns_clone=1 where it exists), run Linux 5.12 or later, and do not run the host "
         "in a container that masks /proc; or set Options::protection.trusted_plugin (samplehost "
         "--trusted-plugin) for plugins you trust";
}

SandboxChoice plan_sandbox(const Options& options, const fs::path& pihost,
                           const fs::path& private_directory) {
  SandboxChoice choice;
  SandboxPlan& plan = choice.plan;
  const auto& protection = options.protection;
  if (protection.trusted_plugin) return choice;
  plan.enabled = true;

  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  fs::path directory = fs::weakly_canonical(private_directory);
  if (uid == 0) {
    const uid_t sandbox_uid = protection.root_host_uid;
    const gid_t sandbox_gid = protection.root_host_gid;
    auto blocked = unreachable_by(pihost, sandbox_uid, sandbox_gid, true);
    if (!blocked) blocked = unreachable_by(directory.parent_path(), sandbox_uid, sandbox_gid, false);
    // The strict profile takes its plugin directories as that user: each must be reachable.
    for (const auto& plugins : options.hardening.plugin_directories) {
      if (!blocked && options.hardening.strict)
        blocked = unreachable_by(plugins, sandbox_uid, sandbox_gid, false);
    }
    if (!blocked) {
      plan.switch_uid = sandbox_uid;
      plan.switch_gid = sandbox_gid;
      plan.uid_map = std::to_string(sandbox_uid) + " " + std::to_string(sandbox_uid) + " 1";
      plan.gid_map = std::to_string(sandbox_gid) + " " + std::to_string(sandbox_gid) + " 1";
      plan.child_uid = sandbox_uid;
    } else {
      // Root stays root outside, but is not root inside: exec leaves no capability.
      plan.uid_map = std::to_string(sandbox_uid) + " 0 1";
      plan.gid_map = std::to_string(sandbox_gid) + " 0 1";
      plan.child_uid = 0;
      choice.missing.push_back(
          {"other-uid", false,
           "the host runs as root, but uid " + std::to_string(sandbox_uid) +
               " cannot reach pihost or the private "
               "directory (" +
               *blocked +
               "), so the child keeps root's files: they stay read-only to it, "
               "but it can reach root-only sockets",
           "make pihost and the plugins readable by uid " + std::to_string(sandbox_uid) +
               " (no private directory on their path), or set Options::protection.root_host_uid to a user "
               "that can read them, or do not run the host as root"});
    }
  } else {
    plan.uid_map = std::to_string(uid) + " " + std::to_string(uid) + " 1";
    plan.gid_map = std::to_string(gid) + " " + std::to_string(gid) + " 1";
    plan.child_uid = uid;
  }
  plan.namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWCGROUP;
  if (options.hardening.no_network) plan.namespaces |= CLONE_NEWNET;
  plan.workdir = (directory / PrivateDirectory::working_directory_name).string();
  if (options.hardening.strict) {
    plan.namespaces |= CLONE_NEWNET | CLONE_NEWUTS;
    plan.root = plan_strict_root(options, fs::weakly_canonical(pihost).parent_path(), directory);
    return choice;
  }

  plan.hide = cgroup_mount_points();
  plan.fresh_tmpfs_options = private_tmpfs_options(options);
  // The host's POSIX shared memory and semaphores live in /dev/shm: the child gets its own.
  if (fs::is_directory("/dev/shm")) plan.fresh_tmpfs.emplace_back("/dev/shm");
  // /tmp stays the host's, writable (plugins are loaded from it, and expect to write it).
  // A private directory base elsewhere ($XDG_RUNTIME_DIR: the user's session sockets, and
  // other isolators' private directories) is covered.
  const fs::path base = directory.parent_path();
  if (!is_under(base, "/tmp") && !fresh_cover_of(base, plan.fresh_tmpfs) &&
      std::find(plan.fresh_tmpfs.begin(), plan.fresh_tmpfs.end(), base.string()) == plan.fresh_tmpfs.end()) {
    plan.fresh_tmpfs.push_back(base.string());
  }

  // /tmp stays writable: a copy of its mount is put back like a writable path.
  if (fs::is_directory("/tmp")) plan.writable.push_back(writable_bind("/tmp", {}));
  plan.writable.push_back(writable_bind(directory, plan.fresh_tmpfs));
  for (const auto& path : protection.writable_paths) {
    std::error_code error;
    const fs::path canonical = fs::canonical(path, error);
    if (error) {
      throw StartError("Options::protection.writable_paths names " + path.string() +
                       ", which cannot be used: " + error.message() + "; give an existing file or directory");
    }
    plan.writable.push_back(writable_bind(canonical, plan.fresh_tmpfs));
  }
  const fs::path pihost_directory = fs::weakly_canonical(pihost).parent_path();
  for (const auto& bind : plan.writable) {
    if (bind.directory && is_under(pihost_directory, bind.path)) {
      plan.read_only_again.push_back(pihost_directory.string());
      break;
    }
  }
  hide_records(options, plan);
  return choice;
}

void hand_over_private_directory(const fs::path& directory, uid_t uid, gid_t gid) {
  if (::chown(directory.c_str(), uid, gid) != 0) {
    throw StartError("cannot hand the private directory " + directory.string() + " to uid " +
                     std::to_string(uid) + ": " + std::strerror(errno));
  }
  const auto work = directory / PrivateDirectory::working_directory_name;
  if (::lchown(work.c_str(), uid, gid) != 0 && errno != ENOENT) {
    throw StartError("cannot hand the working directory " + work.string() + " to uid " + std::to_string(uid) +
                     ": " + std::strerror(errno));
  }
}

uid_t sandbox_child_uid(const SandboxPlan& plan) { return plan.enabled ? plan.child_uid : ::geteuid(); }

gid_t sandbox_child_gid(const SandboxPlan& plan) {
  if (!plan.enabled) return ::getegid();
  return plan.switch_gid.value_or(::getegid());
}

namespace {

// Starts pihost's init and then pihost without arguments (which exits at once) under the
// default sandbox, or the strict profile's root: what failed, or empty.
std::string trial_failure(const Options& options, bool strict) {
  try {
    const fs::path pihost = fs::canonical(locate_pihost(options.pihost_path));
    PrivateDirectory directory;
    fs::create_directory(directory.path() / PrivateDirectory::working_directory_name);
    Options trial;
    trial.hardening.strict = strict;
    const SandboxChoice choice = plan_sandbox(trial, pihost, fs::weakly_canonical(directory.path()));
    if (sandbox_child_uid(choice.plan) != ::geteuid()) {
      hand_over_private_directory(directory.path(), sandbox_child_uid(choice.plan),
                                  sandbox_child_gid(choice.plan));
    }
    SpawnRequest request;
    request.executable = pihost;
    request.working_directory = directory.path() / PrivateDirectory::working_directory_name;
    request.sandbox = &choice.plan;
    SpawnedProcess spawned = spawn_process(request);
    siginfo_t info{};
    ::waitid(P_PIDFD, static_cast<id_t>(spawned.pidfd.get()), &info, WEXITED);
    reap_init(spawned.init_pidfd);
  } catch (const SandboxSetupError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("the trial could not run: ") + e.what();
  }
  return "";
}

}  // namespace

std::string strict_trial_failure(const Options& options) {
  // Once per process, as the sandbox's trial.
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [&options] { failure = trial_failure(options, true); });
  return failure;
}

std::vector<LimitCheck> check_sandbox(const Options& options) {
  // Once per process: the answer is the machine's, and a trial costs a spawn.
  static std::once_flag once;
  static std::string sandbox_failure;
  std::call_once(once, [&options] { sandbox_failure = trial_failure(options, false); });
  std::vector<LimitCheck> checks;
  const std::string& failure = sandbox_failure;
  if (failure.empty()) {
    checks.push_back(
        {"sandbox", true,
         "user, mount, PID, IPC and cgroup namespaces of its own; its own /proc; the host's files "
         "read-only; cgroupfs hidden; a private /dev/shm; no capabilities",
         ""});
  } else {
    checks.push_back({"sandbox", false, failure, sandbox_fix()});
  }
  if (::geteuid() == 0 && !options.protection.trusted_plugin) {
    LimitCheck other{
        "other-uid", true,
        "the host is root: the child runs as uid " + std::to_string(options.protection.root_host_uid), ""};
    try {
      PrivateDirectory directory;
      for (auto& missing :
           plan_sandbox(options, locate_pihost(options.pihost_path), directory.path()).missing) {
        if (missing.limit == "other-uid") other = std::move(missing);
      }
    } catch (const std::exception& e) {
      other = {"other-uid", false, std::string("not checked: ") + e.what(), ""};
    }
    checks.push_back(std::move(other));
  }
  return checks;
}

}  // namespace isolator::detail
