// The strict profile's seccomp allow-list (Options::hardening.strict): the system calls a
// plugin, pihost and the programs they start may make, and the classic BPF program that
// enforces it. Every other call fails.
//
// x86-64 only. The numbers are x86-64's, whatever the build's architecture; elsewhere
// seccomp_filters_available() is false and allow_list_program() gives no program.
//
// What the program answers, in the order it checks:
//   - another architecture's calling convention (an i386 `int 0x80`, whose numbers mean other
//     calls): the process is killed (SECCOMP_RET_KILL_PROCESS);
//   - an x32 call (number >= 0x40000000): EPERM;
//   - clone3: ENOSYS. Its flags are behind a pointer the filter cannot read, so it could make
//     namespaces unseen. glibc answers ENOSYS by calling clone instead, for pthread_create
//     and posix_spawn alike (traced with Debian 12's glibc 2.36; fork calls clone directly);
//   - clone: allowed unless its flags (args[0], low 32 bits: the kernel reads no more) ask
//     for a namespace (CLONE_NEWNS, NEWUSER, NEWPID, NEWNET, NEWIPC, NEWUTS, NEWCGROUP,
//     NEWTIME); then EPERM;
//   - personality: only the query personality(0xffffffff) is allowed, else EPERM. Setting a
//     persona can turn off address-space randomization or make readable memory executable
//     for the next exec;
//   - a call on strict_allowed_syscalls() or named in extra_names: allowed;
//   - anything else: EPERM.
//
// Every function may be called from any thread. They allocate, so the program is built before
// the fork; nothing here installs it: the spawner does that in the child, after
// PR_SET_NO_NEW_PRIVS, as it does for the deny list.
#pragma once

#include <linux/filter.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isolator::detail {

/// The x86-64 number of the system call the kernel names `name` (its
/// arch/x86/entry/syscalls/syscall_64.tbl spelling: "openat" -> 257, "newfstatat" -> 262,
/// "pread64" -> 17), for every call numbered 0..470 (Linux 6.18). nullopt for any other
/// name, x32-only entries included.
std::optional<long> syscall_number(std::string_view name);

/// The strict profile's calls, by name, each known to syscall_number(). Grouped and justified
/// in seccomp_allow_list.cpp; docs/seccomp-allow-list.md lists them for users. clone and
/// personality are on it, with the argument checks above.
const std::vector<std::string>& strict_allowed_syscalls();

/// The calls the strict profile never allows, even when named in Hardening::allow_syscalls:
/// ptrace, process_vm_readv/writev, the mount family (mount, umount2, mount_setattr,
/// move_mount, open_tree, open_tree_attr, fsopen, fsconfig, fsmount, fspick), pivot_root,
/// chroot, setns, unshare, clone3, pidfd_getfd, kexec_load, kexec_file_load, init_module,
/// finit_module, delete_module, bpf, io_uring_setup/enter/register, keyctl, add_key and
/// request_key.
///
/// Why refuse rather than obey: each one either reaches past the sandbox (another process's
/// memory or descriptors, the mount table, namespaces, the kernel itself, the host user's
/// keyring, which the default sandbox refuses too) or undoes the filter (io_uring performs
/// reads, writes, opens and connects that seccomp never sees; clone3's flags cannot be
/// checked). A profile that allowed them on request would promise nothing; a host that needs
/// one should not use the strict profile.
const std::vector<std::string>& strict_never_allowed_syscalls();

/// The classic BPF program described above, for strict_allowed_syscalls() plus
/// `extra_names` (Hardening::allow_syscalls). Naming a call already allowed changes nothing,
/// with one exception: naming "personality" allows every persona (for a program such as
/// `setarch` that needs one; the loss is the plugin's own hardening, not the sandbox's).
/// Naming "clone" keeps its namespace check: a namespace is what unshare would make, and
/// unshare is never allowed.
///
/// Throws OptionsError, naming the field Hardening::allow_syscalls, for a name
/// syscall_number() does not know (with where the names come from) and for a name in
/// strict_never_allowed_syscalls() (with why). Empty on architectures other than x86-64.
/// The program has at most a few instructions per allowed call, well under the kernel's
/// 4096, and every jump lands inside it.
std::vector<sock_filter> allow_list_program(const std::vector<std::string>& extra_names);

/// Throws OptionsError as allow_list_program() does, for an unknown or never-allowed name; on
/// every architecture.
void check_allow_syscalls(const std::vector<std::string>& extra_names);

/// True when this machine can enforce a seccomp filter of ours: x86-64 (the numbers of both
/// the allow-list and hardening's deny lists are x86-64's), and a kernel with seccomp filters
/// (prctl(PR_GET_SECCOMP) does not fail). The one test for the allow-list and the deny lists.
bool seccomp_filters_available();

}  // namespace isolator::detail
