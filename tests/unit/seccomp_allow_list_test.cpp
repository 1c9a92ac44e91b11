// The strict profile's seccomp allow-list (seccomp_allow_list.hpp): the name table, the
// refusal of bad extra names, the program's shape and answers (read by a small classic BPF
// interpreter below), and its real effect: forked children of this test install it and make
// the calls. Those children are throwaway processes that report by exit code; nothing else
// here starts a process.
#include "platform/linux/seccomp_allow_list.hpp"

#include <isolator/errors.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

extern char** environ;

namespace isolator::detail {
namespace {

constexpr std::uint32_t allowed = SECCOMP_RET_ALLOW;
constexpr std::uint32_t refused_eperm = SECCOMP_RET_ERRNO | EPERM;
constexpr std::uint32_t refused_enosys = SECCOMP_RET_ERRNO | ENOSYS;

long number(const char* name) { return syscall_number(name).value(); }

// ---------------------------------------------------------------------------------------------
// Names

TEST(SeccompSyscallNumber, KnowsTheKernelsNumbersUpToTheNewestCalls) {
  const std::pair<const char*, long> expected[] = {
      {"read", 0},
      {"openat", 257},
      {"newfstatat", 262},
      {"pread64", 17},
      {"clone3", 435},
      {"close_range", 436},
      {"openat2", 437},
      {"pidfd_getfd", 438},
      {"faccessat2", 439},
      {"epoll_pwait2", 441},
      {"landlock_create_ruleset", 444},
      {"landlock_add_rule", 445},
      {"landlock_restrict_self", 446},
      {"futex_waitv", 449},
      {"cachestat", 451},
      {"fchmodat2", 452},
      {"map_shadow_stack", 453},
      {"futex_wake", 454},
      {"futex_wait", 455},
      {"futex_requeue", 456},
      {"statmount", 457},
      {"listmount", 458},
      {"lsm_get_self_attr", 459},
      {"lsm_set_self_attr", 460},
      {"lsm_list_modules", 461},
      {"mseal", 462},
      {"setxattrat", 463},
      {"removexattrat", 466},
      {"listns", 470},
  };
  for (const auto& [name, nr] : expected) EXPECT_EQ(syscall_number(name), nr) << name;
}

TEST(SeccompSyscallNumber, AgreesWithThisMachinesHeaders) {
  EXPECT_EQ(number("execveat"), SYS_execveat);
  EXPECT_EQ(number("rt_sigreturn"), SYS_rt_sigreturn);
  EXPECT_EQ(number("set_mempolicy_home_node"), SYS_set_mempolicy_home_node);
  EXPECT_EQ(number("io_uring_setup"), SYS_io_uring_setup);
  EXPECT_EQ(number("process_vm_writev"), SYS_process_vm_writev);
  EXPECT_EQ(number("kexec_file_load"), SYS_kexec_file_load);
}

TEST(SeccompSyscallNumber, HasNoNumberForOtherNames) {
  for (const char* name : {"", "openat64", "fstat64", "OPENAT", "sys_openat", "__NR_openat", "socketcall"}) {
    EXPECT_FALSE(syscall_number(name).has_value()) << name;
  }
}

TEST(SeccompStrictList, NamesEveryCallOnceAndEachIsKnown) {
  const auto& names = strict_allowed_syscalls();
  EXPECT_GT(names.size(), 150U);
  std::set<std::string> seen;
  for (const auto& name : names) {
    EXPECT_TRUE(syscall_number(name).has_value()) << name;
    EXPECT_TRUE(seen.insert(name).second) << name << " is listed twice";
  }
}

TEST(SeccompStrictList, LeavesOutWhatReachesPastTheSandbox) {
  const auto& names = strict_allowed_syscalls();
  std::vector<std::string> excluded = strict_never_allowed_syscalls();
  for (const char* name : {"acct",
                           "reboot",
                           "swapon",
                           "swapoff",
                           "perf_event_open",
                           "userfaultfd",
                           "open_by_handle_at",
                           "name_to_handle_at",
                           "iopl",
                           "ioperm",
                           "syslog",
                           "quotactl",
                           "quotactl_fd",
                           "lookup_dcookie",
                           "uselib",
                           "_sysctl",
                           "vhangup",
                           "settimeofday",
                           "clock_settime",
                           "adjtimex",
                           "clock_adjtime",
                           "sethostname",
                           "setdomainname",
                           "mknod",
                           "mknodat",
                           "fanotify_init",
                           "memfd_secret",
                           "process_madvise",
                           "kcmp",
                           "setuid",
                           "setgroups",
                           "capset"}) {
    excluded.emplace_back(name);
  }
  for (const auto& name : excluded) {
    EXPECT_TRUE(syscall_number(name).has_value()) << name;
    EXPECT_EQ(std::count(names.begin(), names.end(), name), 0) << name << " is on the list";
  }
}

// Success when allow_list_program(extras) throws OptionsError holding every one of `needles`.
testing::AssertionResult RefusedNaming(const std::vector<std::string>& extras,
                                       std::initializer_list<std::string> needles) {
  try {
    allow_list_program(extras);
  } catch (const OptionsError& e) {
    const std::string message = e.what();
    for (const auto& needle : needles) {
      if (message.find(needle) == std::string::npos) {
        return testing::AssertionFailure() << "the message does not hold '" << needle << "': " << message;
      }
    }
    return testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw something other than OptionsError: " << e.what();
  }
  return testing::AssertionFailure() << "the names were accepted";
}

TEST(SeccompAllowListProgram, UnknownExtraNameThrowsOptionsErrorNamingItTheFieldAndWhereNamesComeFrom) {
  EXPECT_TRUE(
      RefusedNaming({"getpid", "frobnicate"}, {"\"frobnicate\"", "Hardening::allow_syscalls",
                                               "not an x86-64 system call", "asm/unistd_64.h", "strace"}));
  EXPECT_TRUE(RefusedNaming({"fstat64"}, {"\"fstat64\"", "Hardening::allow_syscalls"}));
}

TEST(SeccompAllowListProgram, NeverAllowedExtraNameThrowsOptionsErrorSayingWhyAndTheFix) {
  for (const auto& name : strict_never_allowed_syscalls()) {
    EXPECT_TRUE(RefusedNaming({name}, {"\"" + name + "\"", "Hardening::allow_syscalls", "never allows",
                                       "without Hardening::strict"}));
  }
  EXPECT_TRUE(RefusedNaming({"io_uring_enter"}, {"seccomp never sees"}));
}

// ---------------------------------------------------------------------------------------------
// The program's shape and answers

// Each jump's targets, or a failure naming the first that leaves the program; the last
// instruction must return, so that nothing runs off the end.
testing::AssertionResult JumpsLandInside(const std::vector<sock_filter>& program) {
  if (program.empty() || program.size() > BPF_MAXINSNS) {
    return testing::AssertionFailure() << "size " << program.size();
  }
  if (BPF_CLASS(program.back().code) != BPF_RET)
    return testing::AssertionFailure() << "does not end in a return";
  for (std::size_t i = 0; i < program.size(); ++i) {
    const sock_filter& insn = program[i];
    if (BPF_CLASS(insn.code) != BPF_JMP) continue;
    std::vector<std::size_t> targets;
    if (BPF_OP(insn.code) == BPF_JA) {
      targets.push_back(i + 1 + insn.k);
    } else {
      targets.push_back(i + 1 + insn.jt);
      targets.push_back(i + 1 + insn.jf);
    }
    for (const std::size_t target : targets) {
      if (target >= program.size()) {
        return testing::AssertionFailure()
               << "instruction " << i << " jumps to " << target << " of " << program.size();
      }
    }
  }
  return testing::AssertionSuccess();
}

// What the kernel's classic BPF would answer, for the instructions the program uses.
std::uint32_t Run(const std::vector<sock_filter>& program, const seccomp_data& data) {
  std::uint32_t a = 0;
  for (std::size_t pc = 0; pc < program.size(); ++pc) {
    const sock_filter& insn = program[pc];
    switch (insn.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        std::memcpy(&a, reinterpret_cast<const char*>(&data) + insn.k, sizeof a);
        break;
      case BPF_JMP | BPF_JA: pc += insn.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == insn.k ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += a >= insn.k ? insn.jt : insn.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (a & insn.k) != 0 ? insn.jt : insn.jf; break;
      case BPF_RET | BPF_K: return insn.k;
      default: ADD_FAILURE() << "unexpected instruction " << insn.code << " at " << pc; return 0;
    }
  }
  ADD_FAILURE() << "ran off the end";
  return 0;
}

std::uint32_t Answer(const std::vector<sock_filter>& program, long nr, std::uint64_t first_argument = 0,
                     std::uint32_t arch = AUDIT_ARCH_X86_64) {
  seccomp_data data{};
  data.nr = static_cast<int>(nr);
  data.arch = arch;
  data.args[0] = first_argument;
  return Run(program, data);
}

// Names a user may add (neither on the list nor never allowed): well over a hundred.
std::vector<std::string> AddableNames() {
  const auto& listed = strict_allowed_syscalls();
  const auto& never = strict_never_allowed_syscalls();
  std::vector<std::string> names;
  for (const char* name : {"acct",
                           "syslog",
                           "ioprio_get",
                           "ioprio_set",
                           "sync",
                           "syncfs",
                           "kcmp",
                           "setuid",
                           "setgid",
                           "setreuid",
                           "setregid",
                           "setresuid",
                           "setresgid",
                           "setgroups",
                           "setfsuid",
                           "setfsgid",
                           "capset",
                           "mknod",
                           "mknodat",
                           "sethostname",
                           "setdomainname",
                           "shmget",
                           "shmat",
                           "shmctl",
                           "shmdt",
                           "semget",
                           "semop",
                           "semctl",
                           "semtimedop",
                           "msgget",
                           "msgsnd",
                           "msgrcv",
                           "msgctl",
                           "mq_open",
                           "mq_unlink",
                           "mq_timedsend",
                           "mq_timedreceive",
                           "mq_notify",
                           "mq_getsetattr",
                           "io_setup",
                           "io_destroy",
                           "io_getevents",
                           "io_submit",
                           "io_cancel",
                           "io_pgetevents",
                           "fanotify_init",
                           "fanotify_mark",
                           "mbind",
                           "set_mempolicy",
                           "get_mempolicy",
                           "migrate_pages",
                           "move_pages",
                           "set_mempolicy_home_node",
                           "cachestat",
                           "statmount",
                           "listmount",
                           "lsm_get_self_attr",
                           "lsm_set_self_attr",
                           "lsm_list_modules",
                           "listns",
                           "file_getattr",
                           "file_setattr",
                           "pkey_mprotect",
                           "pkey_alloc",
                           "pkey_free",
                           "modify_ldt",
                           "remap_file_pages",
                           "memfd_secret",
                           "process_madvise",
                           "process_mrelease",
                           "sync",
                           "vhangup",
                           "uselib",
                           "ustat",
                           "sysfs",
                           "_sysctl",
                           "adjtimex",
                           "clock_adjtime",
                           "settimeofday",
                           "clock_settime",
                           "swapon",
                           "swapoff",
                           "reboot",
                           "iopl",
                           "ioperm",
                           "quotactl",
                           "quotactl_fd",
                           "lookup_dcookie",
                           "perf_event_open",
                           "fanotify_mark",
                           "userfaultfd",
                           "name_to_handle_at",
                           "open_by_handle_at",
                           "getpmsg",
                           "putpmsg",
                           "afs_syscall",
                           "tuxcall",
                           "security",
                           "create_module",
                           "get_kernel_syms",
                           "query_module",
                           "nfsservctl",
                           "vserver",
                           "epoll_ctl_old",
                           "epoll_wait_old",
                           "set_thread_area",
                           "get_thread_area",
                           "rt_sigqueueinfo",
                           "msync"}) {
    if (std::count(listed.begin(), listed.end(), name) == 0 &&
        std::count(never.begin(), never.end(), name) == 0 &&
        std::count(names.begin(), names.end(), name) == 0) {
      names.emplace_back(name);
    }
  }
  return names;
}

TEST(SeccompAllowListProgram, JumpsLandInsideWithTheListAloneAndWithAHundredExtras) {
  ASSERT_TRUE(JumpsLandInside(allow_list_program({})));
  const auto extras = AddableNames();
  ASSERT_GE(extras.size(), 100U);
  const auto program = allow_list_program(extras);
  EXPECT_TRUE(JumpsLandInside(program));
  // The long form of a jump (BPF_JA, past a subtree of more than 255 instructions) is taken
  // at this size: the edge is exercised, not only the short form.
  EXPECT_TRUE(std::any_of(program.begin(), program.end(),
                          [](const sock_filter& insn) { return insn.code == (BPF_JMP | BPF_JA); }))
      << program.size() << " instructions";
}

TEST(SeccompAllowListProgram, AllowsExactlyTheListedNumbersAndRefusesTheRestWithEperm) {
  for (const std::vector<std::string>& extras : {std::vector<std::string>{}, AddableNames()}) {
    const auto program = allow_list_program(extras);
    std::set<long> expected;
    for (const auto& name : strict_allowed_syscalls()) expected.insert(number(name.c_str()));
    for (const auto& name : extras) expected.insert(number(name.c_str()));
    const std::set<long> checked_by_argument = {number("clone"), number("clone3"), number("personality")};
    for (long nr = 0; nr < 1024; ++nr) {
      if (checked_by_argument.count(nr) != 0) continue;
      EXPECT_EQ(Answer(program, nr), expected.count(nr) != 0 ? allowed : refused_eperm) << "nr " << nr;
    }
    EXPECT_EQ(Answer(program, 0xffffffffL), refused_eperm);
  }
}

TEST(SeccompAllowListProgram, RefusesX32CallsAndKillsAnotherArchitecture) {
  const auto program = allow_list_program({});
  constexpr long x32 = 0x40000000;
  EXPECT_EQ(Answer(program, x32 | number("read")), refused_eperm);
  EXPECT_EQ(Answer(program, x32 | 512), refused_eperm);  // x32's rt_sigaction
  EXPECT_EQ(Answer(program, number("read"), 0, AUDIT_ARCH_I386), SECCOMP_RET_KILL_PROCESS);
}

TEST(SeccompAllowListProgram, AnswersClone3WithEnosysAndCloneByItsNamespaceFlags) {
  const auto program = allow_list_program({});
  EXPECT_EQ(Answer(program, number("clone3")), refused_enosys);
  EXPECT_EQ(Answer(program, number("clone"), SIGCHLD), allowed);
  EXPECT_EQ(Answer(program, number("clone"), CLONE_VM | CLONE_VFORK | SIGCHLD), allowed);
  EXPECT_EQ(Answer(program, number("clone"),
                   CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                       CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID),
            allowed);
  for (const int flag : {CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
                         CLONE_NEWCGROUP, 0x80 /* CLONE_NEWTIME */}) {
    EXPECT_EQ(Answer(program, number("clone"), flag | SIGCHLD), refused_eperm) << std::hex << flag;
  }
  // The kernel reads only the low 32 bits of clone's flags.
  EXPECT_EQ(Answer(program, number("clone"), (std::uint64_t{CLONE_NEWUSER} << 32) | SIGCHLD), allowed);
  // Naming clone does not lift the check.
  EXPECT_EQ(Answer(allow_list_program({"clone"}), number("clone"), CLONE_NEWUSER | SIGCHLD), refused_eperm);
}

TEST(SeccompAllowListProgram, AllowsOnlyThePersonalityQueryUnlessPersonalityIsNamed) {
  const auto program = allow_list_program({});
  EXPECT_EQ(Answer(program, number("personality"), 0xffffffff), allowed);
  EXPECT_EQ(Answer(program, number("personality"), 0), refused_eperm);
  EXPECT_EQ(Answer(program, number("personality"), 0x0040000 /* ADDR_NO_RANDOMIZE */), refused_eperm);
  EXPECT_EQ(Answer(allow_list_program({"personality"}), number("personality"), 0x0040000), allowed);
}

// ---------------------------------------------------------------------------------------------
// The real filter, in forked children

// Exit codes of the child that are not a probe's answer.
constexpr int could_not_install = 250;
constexpr int killed_base = 1000;

// Forks; the child sets no_new_privs, installs `program` (none when empty) and exits with
// what `probe` returns (0..249). Returns that, killed_base + the signal that killed it, or
// could_not_install.
int RunInChild(const std::vector<sock_filter>& program, int (*probe)()) {
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    if (!program.empty()) {
      const sock_fprog fprog{static_cast<unsigned short>(program.size()),
                             const_cast<sock_filter*>(program.data())};
      if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
          ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) {
        ::_exit(could_not_install);
      }
    }
    ::_exit(probe());
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return killed_base + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// errno of a failed raw call, 0 for a success.
int Errno(long result) { return result < 0 ? errno : 0; }

class SeccompAllowListFilter : public testing::Test {
 protected:
  void SetUp() override {
    if (!seccomp_filters_available()) GTEST_SKIP() << "no seccomp filters here";
  }
  const std::vector<sock_filter> strict = allow_list_program({});
};

// Probes. Their arguments are harmless if a call were let through, even as root: a missing
// mount point, a bad descriptor, an unknown operation, a throwaway child.
int WriteMapAndOpen() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return 1;
  if (::write(fds[1], "x", 1) != 1) return 2;
  char byte = 0;
  if (::read(fds[0], &byte, 1) != 1 || byte != 'x') return 3;
  void* memory = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return 4;
  static_cast<char*>(memory)[12345] = 1;
  if (::munmap(memory, 1 << 20) != 0) return 5;
  const int status = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (status < 0) return 6;
  char buffer[256];
  if (::read(status, buffer, sizeof buffer) <= 0) return 7;
  ::close(status);
  char path[] = "/tmp/isolator-seccomp-test-XXXXXX";
  const int file = ::mkstemp(path);
  if (file < 0) return 8;
  const bool written = ::write(file, "data", 4) == 4;
  ::unlink(path);
  ::close(file);
  return written ? 0 : 9;
}

void* Nothing(void*) { return nullptr; }
int CreateAndJoinAThread() {
  pthread_t thread;
  if (::pthread_create(&thread, nullptr, Nothing, nullptr) != 0) return 1;
  return ::pthread_join(thread, nullptr) == 0 ? 0 : 2;
}

int ForkAndExecBinTrue() {
  const pid_t child = ::fork();
  if (child < 0) return 100 + errno;
  if (child == 0) {
    char* const argv[] = {const_cast<char*>("true"), nullptr};
    ::execve("/bin/true", argv, environ);
    ::_exit(99);
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return 98;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 97;
}

int PosixSpawnShellExiting3() {
  pid_t child = 0;
  char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>("exit 3"),
                        nullptr};
  if (const int error = ::posix_spawn(&child, "/bin/sh", nullptr, nullptr, argv, environ); error != 0) {
    return 100 + error;
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return 98;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 97;
}

int PtraceTraceme() { return Errno(::syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0)); }
int MountOnMissingDirectory() {
  return Errno(::syscall(SYS_mount, "none", "/nonexistent-isolator-seccomp-test", "tmpfs", 0, nullptr));
}
int UnshareUser() { return Errno(::syscall(SYS_unshare, CLONE_NEWUSER)); }
int SetnsBadDescriptor() { return Errno(::syscall(SYS_setns, -1, 0)); }
int KeyctlUnknownOperation() { return Errno(::syscall(SYS_keyctl, 0x7fff, 0, 0, 0, 0)); }
int IoUringSetupNoEntries() { return Errno(::syscall(SYS_io_uring_setup, 0, nullptr)); }
int PidfdGetfdBadDescriptor() { return Errno(::syscall(SYS_pidfd_getfd, -1, 0, 0)); }
int ProcessVmReadvNothing() {
  return Errno(::syscall(SYS_process_vm_readv, ::getpid(), nullptr, 0, nullptr, 0, 0));
}
int CloneNewUser() {
  const long child = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (child == 0) ::_exit(0);
  if (child > 0) ::waitpid(static_cast<pid_t>(child), nullptr, 0);
  return Errno(child);
}
int CloneNewUserWithFs() {
  return Errno(::syscall(SYS_clone, CLONE_NEWUSER | CLONE_FS | SIGCHLD, 0, 0, 0, 0));
}
int Clone3NoArguments() { return Errno(::syscall(SYS_clone3, nullptr, 0)); }
int AcctOnMissingFile() { return Errno(::syscall(SYS_acct, "/nonexistent-isolator-seccomp-test/acct")); }
int SyslogBufferSize() {
  return Errno(::syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, nullptr, 0));
}
int IoprioGet() { return Errno(::syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0)); }
int X32Getpid() { return Errno(::syscall(0x40000000 | SYS_getpid)); }
int I386Getpid() {
  long result = 20;  // getpid in i386's numbering
  asm volatile("int $0x80" : "+a"(result) : : "memory");
  return result == ::getpid() ? 0 : 1;
}

TEST_F(SeccompAllowListFilter, LetsAProcessWriteMapAndOpenFiles) {
  EXPECT_EQ(RunInChild(strict, WriteMapAndOpen), 0);
}

TEST_F(SeccompAllowListFilter, LetsAProcessCreateAndJoinAThread) {
  EXPECT_EQ(RunInChild(strict, CreateAndJoinAThread), 0);
}

TEST_F(SeccompAllowListFilter, LetsAProcessForkAndExecBinTrue) {
  EXPECT_EQ(RunInChild(strict, ForkAndExecBinTrue), 0);
}

TEST_F(SeccompAllowListFilter, LetsPosixSpawnRunAShellThatExits3) {
  EXPECT_EQ(RunInChild(strict, PosixSpawnShellExiting3), 3);
}

TEST_F(SeccompAllowListFilter, RefusesWhatReachesPastTheSandboxWithEperm) {
  const std::pair<const char*, int (*)()> probes[] = {
      {"ptrace(PTRACE_TRACEME)", PtraceTraceme},
      {"mount", MountOnMissingDirectory},
      {"unshare(CLONE_NEWUSER)", UnshareUser},
      {"setns", SetnsBadDescriptor},
      {"keyctl", KeyctlUnknownOperation},
      {"io_uring_setup", IoUringSetupNoEntries},
      {"pidfd_getfd", PidfdGetfdBadDescriptor},
      {"process_vm_readv", ProcessVmReadvNothing},
      {"clone(CLONE_NEWUSER)", CloneNewUser},
      {"clone(CLONE_NEWUSER|CLONE_FS)", CloneNewUserWithFs},
      {"acct", AcctOnMissingFile},
      {"syslog", SyslogBufferSize},
      {"ioprio_get (not on the list)", IoprioGet},
      {"an x32 getpid", X32Getpid},
  };
  for (const auto& [what, probe] : probes) EXPECT_EQ(RunInChild(strict, probe), EPERM) << what;
}

// The refusals above come from the filter: the same calls, unfiltered, get another answer
// from the kernel (whatever this process's privileges).
TEST_F(SeccompAllowListFilter, WithoutTheFilterTheSameCallsGetAnotherAnswer) {
  const std::pair<const char*, int (*)()> probes[] = {
      {"mount", MountOnMissingDirectory},
      {"setns", SetnsBadDescriptor},
      {"keyctl", KeyctlUnknownOperation},
      {"pidfd_getfd", PidfdGetfdBadDescriptor},
      {"process_vm_readv", ProcessVmReadvNothing},
      {"clone(CLONE_NEWUSER|CLONE_FS)", CloneNewUserWithFs},
      {"clone3", Clone3NoArguments},
      {"ioprio_get", IoprioGet},
  };
  for (const auto& [what, probe] : probes) {
    const int answer = RunInChild({}, probe);
    EXPECT_NE(answer, EPERM) << what;
    EXPECT_NE(answer, ENOSYS) << what;
  }
}

TEST_F(SeccompAllowListFilter, AnswersClone3WithEnosys) {
  EXPECT_EQ(RunInChild(strict, Clone3NoArguments), ENOSYS);
}

TEST_F(SeccompAllowListFilter, AllowsACallOnceItIsNamedInExtraNames) {
  EXPECT_EQ(RunInChild(strict, IoprioGet), EPERM);
  EXPECT_EQ(RunInChild(allow_list_program({"ioprio_get"}), IoprioGet), 0);
}

TEST_F(SeccompAllowListFilter, KillsACallMadeInAnotherArchitecturesConvention) {
  if (RunInChild({}, I386Getpid) != 0) GTEST_SKIP() << "this kernel does not run i386 calls (int 0x80)";
  EXPECT_EQ(RunInChild(strict, I386Getpid), killed_base + SIGSYS);
}

}  // namespace
}  // namespace isolator::detail
