#include "seccomp_allow_list.hpp"

#include <isolator/errors.hpp>

#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>

#if !defined(CLONE_NEWTIME)
#define CLONE_NEWTIME 0x00000080
#endif

namespace isolator::detail {
namespace {

struct NumberedCall {
  std::string_view name;
  long number;
};

// x86-64's table: <asm/unistd_64.h> of Linux 6.1 (0..450; 335..423 were never used), then
// 451..470 by hand from the kernel's syscall_64.tbl up to Linux 6.18. The x32 entries (512..547
// and everything with bit 30) are left out: the program refuses them all.
// clang-format off
constexpr NumberedCall x86_64_calls[] = {
    {"read", 0}, {"write", 1}, {"open", 2}, {"close", 3}, {"stat", 4}, {"fstat", 5}, {"lstat", 6},
    {"poll", 7}, {"lseek", 8}, {"mmap", 9}, {"mprotect", 10}, {"munmap", 11}, {"brk", 12},
    {"rt_sigaction", 13}, {"rt_sigprocmask", 14}, {"rt_sigreturn", 15}, {"ioctl", 16}, {"pread64", 17},
    {"pwrite64", 18}, {"readv", 19}, {"writev", 20}, {"access", 21}, {"pipe", 22}, {"select", 23},
    {"sched_yield", 24}, {"mremap", 25}, {"msync", 26}, {"mincore", 27}, {"madvise", 28}, {"shmget", 29},
    {"shmat", 30}, {"shmctl", 31}, {"dup", 32}, {"dup2", 33}, {"pause", 34}, {"nanosleep", 35},
    {"getitimer", 36}, {"alarm", 37}, {"setitimer", 38}, {"getpid", 39}, {"sendfile", 40}, {"socket", 41},
    {"connect", 42}, {"accept", 43}, {"sendto", 44}, {"recvfrom", 45}, {"sendmsg", 46}, {"recvmsg", 47},
    {"shutdown", 48}, {"bind", 49}, {"listen", 50}, {"getsockname", 51}, {"getpeername", 52},
    {"socketpair", 53}, {"setsockopt", 54}, {"getsockopt", 55}, {"clone", 56}, {"fork", 57},
    {"vfork", 58}, {"execve", 59}, {"exit", 60}, {"wait4", 61}, {"kill", 62}, {"uname", 63},
    {"semget", 64}, {"semop", 65}, {"semctl", 66}, {"shmdt", 67}, {"msgget", 68}, {"msgsnd", 69},
    {"msgrcv", 70}, {"msgctl", 71}, {"fcntl", 72}, {"flock", 73}, {"fsync", 74}, {"fdatasync", 75},
    {"truncate", 76}, {"ftruncate", 77}, {"getdents", 78}, {"getcwd", 79}, {"chdir", 80}, {"fchdir", 81},
    {"rename", 82}, {"mkdir", 83}, {"rmdir", 84}, {"creat", 85}, {"link", 86}, {"unlink", 87},
    {"symlink", 88}, {"readlink", 89}, {"chmod", 90}, {"fchmod", 91}, {"chown", 92}, {"fchown", 93},
    {"lchown", 94}, {"umask", 95}, {"gettimeofday", 96}, {"getrlimit", 97}, {"getrusage", 98},
    {"sysinfo", 99}, {"times", 100}, {"ptrace", 101}, {"getuid", 102}, {"syslog", 103}, {"getgid", 104},
    {"setuid", 105}, {"setgid", 106}, {"geteuid", 107}, {"getegid", 108}, {"setpgid", 109},
    {"getppid", 110}, {"getpgrp", 111}, {"setsid", 112}, {"setreuid", 113}, {"setregid", 114},
    {"getgroups", 115}, {"setgroups", 116}, {"setresuid", 117}, {"getresuid", 118}, {"setresgid", 119},
    {"getresgid", 120}, {"getpgid", 121}, {"setfsuid", 122}, {"setfsgid", 123}, {"getsid", 124},
    {"capget", 125}, {"capset", 126}, {"rt_sigpending", 127}, {"rt_sigtimedwait", 128},
    {"rt_sigqueueinfo", 129}, {"rt_sigsuspend", 130}, {"sigaltstack", 131}, {"utime", 132},
    {"mknod", 133}, {"uselib", 134}, {"personality", 135}, {"ustat", 136}, {"statfs", 137},
    {"fstatfs", 138}, {"sysfs", 139}, {"getpriority", 140}, {"setpriority", 141}, {"sched_setparam", 142},
    {"sched_getparam", 143}, {"sched_setscheduler", 144}, {"sched_getscheduler", 145},
    {"sched_get_priority_max", 146}, {"sched_get_priority_min", 147}, {"sched_rr_get_interval", 148},
    {"mlock", 149}, {"munlock", 150}, {"mlockall", 151}, {"munlockall", 152}, {"vhangup", 153},
    {"modify_ldt", 154}, {"pivot_root", 155}, {"_sysctl", 156}, {"prctl", 157}, {"arch_prctl", 158},
    {"adjtimex", 159}, {"setrlimit", 160}, {"chroot", 161}, {"sync", 162}, {"acct", 163},
    {"settimeofday", 164}, {"mount", 165}, {"umount2", 166}, {"swapon", 167}, {"swapoff", 168},
    {"reboot", 169}, {"sethostname", 170}, {"setdomainname", 171}, {"iopl", 172}, {"ioperm", 173},
    {"create_module", 174}, {"init_module", 175}, {"delete_module", 176}, {"get_kernel_syms", 177},
    {"query_module", 178}, {"quotactl", 179}, {"nfsservctl", 180}, {"getpmsg", 181}, {"putpmsg", 182},
    {"afs_syscall", 183}, {"tuxcall", 184}, {"security", 185}, {"gettid", 186}, {"readahead", 187},
    {"setxattr", 188}, {"lsetxattr", 189}, {"fsetxattr", 190}, {"getxattr", 191}, {"lgetxattr", 192},
    {"fgetxattr", 193}, {"listxattr", 194}, {"llistxattr", 195}, {"flistxattr", 196},
    {"removexattr", 197}, {"lremovexattr", 198}, {"fremovexattr", 199}, {"tkill", 200}, {"time", 201},
    {"futex", 202}, {"sched_setaffinity", 203}, {"sched_getaffinity", 204}, {"set_thread_area", 205},
    {"io_setup", 206}, {"io_destroy", 207}, {"io_getevents", 208}, {"io_submit", 209}, {"io_cancel", 210},
    {"get_thread_area", 211}, {"lookup_dcookie", 212}, {"epoll_create", 213}, {"epoll_ctl_old", 214},
    {"epoll_wait_old", 215}, {"remap_file_pages", 216}, {"getdents64", 217}, {"set_tid_address", 218},
    {"restart_syscall", 219}, {"semtimedop", 220}, {"fadvise64", 221}, {"timer_create", 222},
    {"timer_settime", 223}, {"timer_gettime", 224}, {"timer_getoverrun", 225}, {"timer_delete", 226},
    {"clock_settime", 227}, {"clock_gettime", 228}, {"clock_getres", 229}, {"clock_nanosleep", 230},
    {"exit_group", 231}, {"epoll_wait", 232}, {"epoll_ctl", 233}, {"tgkill", 234}, {"utimes", 235},
    {"vserver", 236}, {"mbind", 237}, {"set_mempolicy", 238}, {"get_mempolicy", 239}, {"mq_open", 240},
    {"mq_unlink", 241}, {"mq_timedsend", 242}, {"mq_timedreceive", 243}, {"mq_notify", 244},
    {"mq_getsetattr", 245}, {"kexec_load", 246}, {"waitid", 247}, {"add_key", 248}, {"request_key", 249},
    {"keyctl", 250}, {"ioprio_set", 251}, {"ioprio_get", 252}, {"inotify_init", 253},
    {"inotify_add_watch", 254}, {"inotify_rm_watch", 255}, {"migrate_pages", 256}, {"openat", 257},
    {"mkdirat", 258}, {"mknodat", 259}, {"fchownat", 260}, {"futimesat", 261}, {"newfstatat", 262},
    {"unlinkat", 263}, {"renameat", 264}, {"linkat", 265}, {"symlinkat", 266}, {"readlinkat", 267},
    {"fchmodat", 268}, {"faccessat", 269}, {"pselect6", 270}, {"ppoll", 271}, {"unshare", 272},
    {"set_robust_list", 273}, {"get_robust_list", 274}, {"splice", 275}, {"tee", 276},
    {"sync_file_range", 277}, {"vmsplice", 278}, {"move_pages", 279}, {"utimensat", 280},
    {"epoll_pwait", 281}, {"signalfd", 282}, {"timerfd_create", 283}, {"eventfd", 284},
    {"fallocate", 285}, {"timerfd_settime", 286}, {"timerfd_gettime", 287}, {"accept4", 288},
    {"signalfd4", 289}, {"eventfd2", 290}, {"epoll_create1", 291}, {"dup3", 292}, {"pipe2", 293},
    {"inotify_init1", 294}, {"preadv", 295}, {"pwritev", 296}, {"rt_tgsigqueueinfo", 297},
    {"perf_event_open", 298}, {"recvmmsg", 299}, {"fanotify_init", 300}, {"fanotify_mark", 301},
    {"prlimit64", 302}, {"name_to_handle_at", 303}, {"open_by_handle_at", 304}, {"clock_adjtime", 305},
    {"syncfs", 306}, {"sendmmsg", 307}, {"setns", 308}, {"getcpu", 309}, {"process_vm_readv", 310},
    {"process_vm_writev", 311}, {"kcmp", 312}, {"finit_module", 313}, {"sched_setattr", 314},
    {"sched_getattr", 315}, {"renameat2", 316}, {"seccomp", 317}, {"getrandom", 318},
    {"memfd_create", 319}, {"kexec_file_load", 320}, {"bpf", 321}, {"execveat", 322},
    {"userfaultfd", 323}, {"membarrier", 324}, {"mlock2", 325}, {"copy_file_range", 326},
    {"preadv2", 327}, {"pwritev2", 328}, {"pkey_mprotect", 329}, {"pkey_alloc", 330}, {"pkey_free", 331},
    {"statx", 332}, {"io_pgetevents", 333}, {"rseq", 334}, {"pidfd_send_signal", 424},
    {"io_uring_setup", 425}, {"io_uring_enter", 426}, {"io_uring_register", 427}, {"open_tree", 428},
    {"move_mount", 429}, {"fsopen", 430}, {"fsconfig", 431}, {"fsmount", 432}, {"fspick", 433},
    {"pidfd_open", 434}, {"clone3", 435}, {"close_range", 436}, {"openat2", 437}, {"pidfd_getfd", 438},
    {"faccessat2", 439}, {"process_madvise", 440}, {"epoll_pwait2", 441}, {"mount_setattr", 442},
    {"quotactl_fd", 443}, {"landlock_create_ruleset", 444}, {"landlock_add_rule", 445},
    {"landlock_restrict_self", 446}, {"memfd_secret", 447}, {"process_mrelease", 448},
    {"futex_waitv", 449}, {"set_mempolicy_home_node", 450}, {"cachestat", 451}, {"fchmodat2", 452},
    {"map_shadow_stack", 453}, {"futex_wake", 454}, {"futex_wait", 455}, {"futex_requeue", 456},
    {"statmount", 457}, {"listmount", 458}, {"lsm_get_self_attr", 459}, {"lsm_set_self_attr", 460},
    {"lsm_list_modules", 461}, {"mseal", 462}, {"setxattrat", 463}, {"getxattrat", 464},
    {"listxattrat", 465}, {"removexattrat", 466}, {"open_tree_attr", 467}, {"file_getattr", 468},
    {"file_setattr", 469}, {"listns", 470},
};
// clang-format on

// Why the strict profile never allows these, even on request (see the header).
struct NeverAllowed {
  std::string_view name;
  std::string_view why;
};
constexpr std::string_view reaches_processes = "it reads or steers another process";
constexpr std::string_view reaches_mounts = "it changes what the sandbox's mounts show";
constexpr std::string_view reaches_namespaces = "it leaves or makes namespaces";
constexpr std::string_view reaches_kernel = "it changes the running kernel";
constexpr std::string_view bypasses_filter = "its operations run where seccomp never sees them";
constexpr std::string_view reaches_keyring =
    "it reaches the host user's keyring, as the default sandbox refuses too";
constexpr NeverAllowed never_allowed[] = {
    {"ptrace", reaches_processes},
    {"process_vm_readv", reaches_processes},
    {"process_vm_writev", reaches_processes},
    {"pidfd_getfd", reaches_processes},
    {"mount", reaches_mounts},
    {"umount2", reaches_mounts},
    {"mount_setattr", reaches_mounts},
    {"move_mount", reaches_mounts},
    {"open_tree", reaches_mounts},
    {"open_tree_attr", reaches_mounts},
    {"fsopen", reaches_mounts},
    {"fsconfig", reaches_mounts},
    {"fsmount", reaches_mounts},
    {"fspick", reaches_mounts},
    {"pivot_root", reaches_mounts},
    {"chroot", reaches_mounts},
    {"setns", reaches_namespaces},
    {"unshare", reaches_namespaces},
    {"clone3", "its flags (namespaces among them) are behind a pointer the filter cannot read"},
    {"kexec_load", reaches_kernel},
    {"kexec_file_load", reaches_kernel},
    {"init_module", reaches_kernel},
    {"finit_module", reaches_kernel},
    {"delete_module", reaches_kernel},
    {"bpf", reaches_kernel},
    {"io_uring_setup", bypasses_filter},
    {"io_uring_enter", bypasses_filter},
    {"io_uring_register", bypasses_filter},
    {"keyctl", reaches_keyring},
    {"add_key", reaches_keyring},
    {"request_key", reaches_keyring},
};

// The profile. Each group is what some part of a plugin's process needs; the EPERM for
// everything else is what a plugin sees when it reaches for more (docs/seccomp-allow-list.md).
// clang-format off
const char* const allowed_groups[][64] = {
    // Memory: malloc, the dynamic loader mapping libraries, thread stacks, JITs (memfd,
    // membarrier); mlock within RLIMIT_MEMLOCK. mseal and map_shadow_stack only restrict the
    // caller (newer glibc and CET use them).
    {"brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "msync", "mincore", "mlock", "mlock2",
     "munlock", "mlockall", "munlockall", "membarrier", "memfd_create", "mseal", "map_shadow_stack"},
    // Descriptors: reading and writing whatever the plugin may open, pipes to its children.
    // ioctl is unfiltered: isatty (TCGETS), FIONREAD, FICLONE for cp; pihost's stdio is a pipe
    // and it leads a session without a terminal, so terminal ioctls have nothing to reach.
    {"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
     "pwritev2", "close", "close_range", "lseek", "dup", "dup2", "dup3", "fcntl", "ioctl", "flock",
     "pipe", "pipe2", "sendfile", "splice", "tee", "vmsplice", "copy_file_range", "fadvise64",
     "readahead", "fsync", "fdatasync", "sync_file_range", "fallocate", "ftruncate"},
    // Files and directories: what the mounts (read-only but for the working directory, /tmp
    // and writable_paths) and the file permissions let it do.
    {"open", "openat", "openat2", "creat", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs",
     "fstatfs", "access", "faccessat", "faccessat2", "getdents", "getdents64", "getcwd", "chdir",
     "fchdir", "truncate", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link",
     "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod",
     "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask", "utime", "utimes",
     "utimensat", "futimesat", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch"},
    // Extended attributes: ls reads them (ACLs, capabilities), cp -a copies them.
    {"getxattr", "lgetxattr", "fgetxattr", "getxattrat", "listxattr", "llistxattr", "flistxattr",
     "listxattrat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat", "removexattr", "lremovexattr",
     "fremovexattr", "removexattrat"},
    // Time: clocks, sleeps and timers; setting the clock is not on it.
    {"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time", "times",
     "alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
     "timer_getoverrun", "timer_delete"},
    // Threads and futexes: pthreads, std::thread, libstdc++'s atomics waits, glibc's
    // thread start (set_robust_list, rseq, arch_prctl for the TLS register).
    {"futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "set_robust_list",
     "get_robust_list", "set_tid_address", "gettid", "rseq", "arch_prctl", "sched_yield",
     "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam", "sched_getscheduler",
     "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
     "sched_getattr", "sched_setattr", "getcpu", "getpriority", "setpriority"},
    // Signals: handlers, masks, waits; kill and tgkill reach only the sandbox's own PID
    // namespace.
    {"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
     "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "restart_syscall", "pause",
     "kill", "tkill", "tgkill", "signalfd", "signalfd4"},
    // Processes: a plugin may start programs (posix_spawn, fork + exec of /bin/sh and the
    // coreutils) and wait for them. clone has its namespace flags checked, clone3 answers ENOSYS
    // (glibc then calls clone), personality answers only the query. pidfd_open and
    // pidfd_send_signal are how pihost watches its host and kills its strays.
    {"fork", "vfork", "clone", "execve", "execveat", "wait4", "waitid", "exit", "exit_group",
     "pidfd_open", "pidfd_send_signal", "personality"},
    // Identity and resources: who it is, its limits and usage (pihost's getrusage and
    // prlimit64; raising a hard limit needs a capability it does not have).
    {"getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
     "getpgid", "getpgrp", "getsid", "setsid", "setpgid", "capget", "getrlimit", "setrlimit", "prlimit64",
     "getrusage", "sysinfo", "uname"},
    // Sockets: pihost's channel is a Unix socket; a plugin's own network, if any, is the one
    // Hardening::no_network leaves it (the strict profile has a network namespace of its own).
    {"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "recvfrom",
     "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname", "getpeername", "getsockopt",
     "setsockopt"},
    // Waiting on descriptors: Boost.Asio's epoll reactor (epoll, eventfd, timerfd), poll and
    // select for everything older.
    {"poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
     "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "timerfd_create", "timerfd_settime",
     "timerfd_gettime"},
    // The rest of a process's ordinary life: randomness, prctl (pihost's death signal,
    // dumpable, subreaper, no_new_privs; PR_SET_MM needs a capability), and the calls that only
    // narrow the caller further (a plugin may sandbox its own children).
    {"getrandom", "prctl", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
     "landlock_restrict_self"},
};
// clang-format on

// An extra name must be a call, and not one the profile promises never to allow.
void check_extra_name(const std::string& name) {
  const std::string field = "Options::hardening (Hardening::allow_syscalls) names \"" + name + "\", ";
  const auto never = std::find_if(std::begin(never_allowed), std::end(never_allowed),
                                  [&](const NeverAllowed& call) { return call.name == name; });
  if (never != std::end(never_allowed)) {
    throw OptionsError(field + "which the strict profile never allows: " + std::string(never->why) +
                       "; fix: remove it, or run this plugin without Hardening::strict");
  }
  if (!syscall_number(name)) {
    throw OptionsError(field + "which is not an x86-64 system call; names are the kernel's, as strace "
                               "prints them and as <asm/unistd_64.h> spells them after __NR_ (\"openat\", "
                               "\"newfstatat\", \"pread64\")");
  }
}

#if defined(__x86_64__)
using Code = std::vector<sock_filter>;

long number_of(std::string_view known_name) { return syscall_number(known_name).value(); }

constexpr std::uint32_t x32_bit = 0x40000000;
constexpr std::uint32_t namespace_flags = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME;
constexpr std::uint32_t personality_query = 0xffffffff;
// x86-64 is little-endian: the low half of args[0] comes first.
constexpr std::uint32_t first_argument_low = offsetof(seccomp_data, args);
// A leaf of the search tree compares this many numbers one by one.
constexpr std::size_t leaf_size = 8;
// jt and jf are 8 bits: farther targets take a BPF_JA, whose offset is 32 bits.
constexpr std::size_t farthest_short_jump = 255;

sock_filter statement(std::uint16_t code, std::uint32_t k) { return {code, 0, 0, k}; }
sock_filter load(std::uint32_t offset) { return statement(BPF_LD | BPF_W | BPF_ABS, offset); }
sock_filter allow() { return statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW); }
sock_filter refuse(int error) {
  return statement(BPF_RET | BPF_K,
                   SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(error) & SECCOMP_RET_DATA));
}
sock_filter jump(std::uint16_t test, std::uint32_t k, std::size_t if_true, std::size_t if_false) {
  return {static_cast<std::uint16_t>(BPF_JMP | test | BPF_K), static_cast<std::uint8_t>(if_true),
          static_cast<std::uint8_t>(if_false), k};
}

// With the call's number in A: a binary search over `numbers` (sorted, distinct) that allows
// each of them and refuses the rest with EPERM. Each leaf has its own returns, so no jump
// crosses more than one subtree.
Code search(std::span<const std::uint32_t> numbers) {
  Code code;
  if (numbers.size() <= leaf_size) {
    for (std::size_t i = 0; i < numbers.size(); ++i)
      code.push_back(jump(BPF_JEQ, numbers[i], numbers.size() - i, 0));
    code.push_back(refuse(EPERM));
    if (!numbers.empty()) code.push_back(allow());
    return code;
  }
  const std::size_t half = numbers.size() / 2;
  const Code below = search(numbers.first(half));
  const Code above = search(numbers.subspan(half));
  if (below.size() <= farthest_short_jump) {
    code.push_back(jump(BPF_JGE, numbers[half], below.size(), 0));
  } else {
    code.push_back(jump(BPF_JGE, numbers[half], 0, 1));
    code.push_back(statement(BPF_JMP | BPF_JA, static_cast<std::uint32_t>(below.size())));
  }
  code.insert(code.end(), below.begin(), below.end());
  code.insert(code.end(), above.begin(), above.end());
  return code;
}

// The checks before the search, with the call's number in A; they end with it in A again.
Code prologue(bool check_personality) {
  Code code = {
      // Another architecture's numbers would mean other calls.
      load(offsetof(seccomp_data, arch)),
      jump(BPF_JEQ, AUDIT_ARCH_X86_64, 1, 0),
      statement(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      load(offsetof(seccomp_data, nr)),
      jump(BPF_JGE, x32_bit, 0, 1),
      refuse(EPERM),
      // ENOSYS, not EPERM: glibc falls back to clone on ENOSYS only.
      jump(BPF_JEQ, static_cast<std::uint32_t>(number_of("clone3")), 0, 1),
      refuse(ENOSYS),
      jump(BPF_JEQ, static_cast<std::uint32_t>(number_of("clone")), 0, 4),
      load(first_argument_low),
      jump(BPF_JSET, namespace_flags, 0, 1),
      refuse(EPERM),
      allow(),
  };
  if (check_personality) {
    const Code personality = {
        jump(BPF_JEQ, static_cast<std::uint32_t>(number_of("personality")), 0, 4),
        load(first_argument_low),
        jump(BPF_JEQ, personality_query, 0, 1),
        allow(),
        refuse(EPERM),
    };
    code.insert(code.end(), personality.begin(), personality.end());
  }
  return code;
}
#endif

}  // namespace

std::optional<long> syscall_number(std::string_view name) {
  const auto found = std::find_if(std::begin(x86_64_calls), std::end(x86_64_calls),
                                  [&](const NumberedCall& call) { return call.name == name; });
  if (found == std::end(x86_64_calls)) return std::nullopt;
  return found->number;
}

const std::vector<std::string>& strict_allowed_syscalls() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const auto& group : allowed_groups) {
      for (const char* name : group) {
        if (name != nullptr) all.emplace_back(name);
      }
    }
    return all;
  }();
  return names;
}

const std::vector<std::string>& strict_never_allowed_syscalls() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const auto& call : never_allowed) all.emplace_back(call.name);
    return all;
  }();
  return names;
}

void check_allow_syscalls(const std::vector<std::string>& extra_names) {
  for (const auto& name : extra_names) check_extra_name(name);
}

std::vector<sock_filter> allow_list_program(const std::vector<std::string>& extra_names) {
  check_allow_syscalls(extra_names);
#if defined(__x86_64__)
  const bool personality_named = std::find(extra_names.begin(), extra_names.end(), "personality") !=
                                 extra_names.end();
  // clone and personality (unless named) are answered by the prologue, before the search.
  std::vector<std::uint32_t> numbers;
  for (const auto* names : {&strict_allowed_syscalls(), &extra_names}) {
    for (const auto& name : *names) {
      if (name == "clone" || (name == "personality" && !personality_named)) continue;
      numbers.push_back(static_cast<std::uint32_t>(number_of(name)));
    }
  }
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  Code program = prologue(!personality_named);
  const Code tree = search(numbers);
  program.insert(program.end(), tree.begin(), tree.end());
  return program;
#else
  return {};
#endif
}

bool seccomp_filters_available() {
#if defined(__x86_64__)
  // 0 (no filter yet) or 2 (filtered already: filters stack); EINVAL without CONFIG_SECCOMP.
  return ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
#else
  return false;
#endif
}

}  // namespace isolator::detail
