#include "hardening.hpp"

#include "seccomp_allow_list.hpp"

#include <isolator/errors.hpp>

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <fstream>
#include <iterator>

namespace isolator::detail {
namespace {

bool has_cap_sys_admin() {
  // CapEff bit 21 (CAP_SYS_ADMIN), from /proc: no libcap needed.
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      const unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
      return (caps >> 21) & 1ULL;
    }
  }
  return false;
}

// Whether an unprivileged process may create a user namespace here (Debian's sysctl, then
// the general limit).
bool unprivileged_userns() {
  std::ifstream debian("/proc/sys/kernel/unprivileged_userns_clone");
  int allowed = 1;
  if (debian >> allowed && allowed == 0) return false;
  std::ifstream limit("/proc/sys/user/max_user_namespaces");
  long max = 1;
  return !(limit >> max) || max > 0;
}

#if defined(__x86_64__)
#if !defined(SYS_pidfd_getfd)
#define SYS_pidfd_getfd 438
#endif
// Refused in the default sandbox: what reaches past its namespaces.
constexpr long sandbox_denied_syscalls[] = {
    SYS_pidfd_getfd,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
};

constexpr long denied_syscalls[] = {
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_kexec_load,
    SYS_kexec_file_load,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_reboot,
    SYS_swapon,
    SYS_swapoff,
    SYS_acct,
    SYS_bpf,
    SYS_perf_event_open,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_userfaultfd,
    SYS_open_by_handle_at,
    SYS_name_to_handle_at,
    SYS_iopl,
    SYS_ioperm,
    SYS_syslog,
    SYS_quotactl,
    SYS_setns,
    SYS_unshare,
};

std::vector<sock_filter> deny_list_program(const std::vector<long>& calls) {
  constexpr std::uint32_t x32_bit = 0x40000000;
  const auto statement = [](std::uint16_t code, std::uint32_t k) { return sock_filter{code, 0, 0, k}; };
  const auto jump = [](std::uint16_t code, std::uint32_t k, std::uint8_t if_true, std::uint8_t if_false) {
    return sock_filter{code, if_true, if_false, k};
  };
  std::vector<sock_filter> program;
  // Another architecture's calling convention would make the numbers below mean other calls.
  program.push_back(statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  program.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  program.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  program.push_back(statement(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  const std::size_t denied = calls.size();
  // x32 calls (their own numbering) jump straight to the refusal at the end.
  program.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, x32_bit, static_cast<std::uint8_t>(denied + 1), 0));
  for (std::size_t i = 0; i < denied; ++i) {
    program.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(calls[i]),
                           static_cast<std::uint8_t>(denied - i), 0));
  }
  program.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  program.push_back(statement(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
  return program;
}
#endif

}  // namespace

std::vector<LimitCheck> check_hardening() {
  std::vector<LimitCheck> checks;
  const bool root = has_cap_sys_admin();
  if (root) {
    checks.push_back({"no-network", true, "a network namespace of its own (CAP_SYS_ADMIN)", ""});
  } else if (unprivileged_userns()) {
    checks.push_back({"no-network", true, "a user and a network namespace of its own", ""});
  } else {
    checks.push_back(
        {"no-network", false, "no CAP_SYS_ADMIN, and unprivileged user namespaces are off",
         "sysctl -w kernel.unprivileged_userns_clone=1 (Debian) or user.max_user_namespaces > 0, "
         "or run the host with CAP_SYS_ADMIN"});
  }
  if (seccomp_filters_available()) {
    checks.push_back({"deny-syscalls", true, "a seccomp filter (EPERM for the denied calls)", ""});
  } else {
#if defined(__x86_64__)
    checks.push_back({"deny-syscalls", false, "the kernel has no seccomp filters",
                      "a kernel built with CONFIG_SECCOMP_FILTER"});
#else
    checks.push_back({"deny-syscalls", false, "the deny list is defined for x86-64 only", ""});
#endif
  }
  if (seccomp_filters_available()) {
    checks.push_back({"strict", true,
                      "the strict profile: a filesystem of only what a plugin needs, no network, UTS and IPC "
                      "namespaces, a seccomp allow-list (it needs the sandbox too)",
                      ""});
  } else {
#if defined(__x86_64__)
    checks.push_back({"strict", false, "the kernel has no seccomp filters", "a kernel built with CONFIG_SECCOMP_FILTER"});
#else
    checks.push_back({"strict", false, "the allow-list is defined for x86-64 only", ""});
#endif
  }
  return checks;
}

void require_hardening(const Hardening& hardening) {
  if (!hardening.any()) return;
  for (const auto& check : check_hardening()) {
    const bool asked = check.limit == "no-network"      ? hardening.no_network || hardening.strict
                       : check.limit == "deny-syscalls" ? hardening.deny_syscalls
                                                        : hardening.strict;
    if (asked && !check.enforceable) {
      throw StartError("Options::hardening asks for " + check.limit +
                       ", which this machine cannot provide: " + check.how +
                       (check.fix.empty() ? "" : "; fix: " + check.fix));
    }
  }
}

HardeningPlan plan_hardening(const Hardening& hardening, bool sandboxed) {
  HardeningPlan plan;
  if (hardening.no_network && !sandboxed) {
    plan.new_network = true;
    if (!has_cap_sys_admin()) {
      plan.new_user = true;
      plan.uid_map = std::to_string(::geteuid()) + " " + std::to_string(::geteuid()) + " 1";
      plan.gid_map = std::to_string(::getegid()) + " " + std::to_string(::getegid()) + " 1";
    }
  }
#if defined(__x86_64__)
  std::vector<long> denied;
  if (hardening.strict) {
    // The allow-list refuses everything the deny lists name, and more.
    if (seccomp_filters_available()) plan.seccomp = allow_list_program(hardening.allow_syscalls);
    return plan;
  }
  if (hardening.deny_syscalls) denied.assign(std::begin(denied_syscalls), std::end(denied_syscalls));
  if (sandboxed) {
    for (const long call : sandbox_denied_syscalls) {
      if (std::find(denied.begin(), denied.end(), call) == denied.end()) denied.push_back(call);
    }
  }
  if (!denied.empty() && seccomp_filters_available()) plan.seccomp = deny_list_program(denied);
#endif
  return plan;
}

}  // namespace isolator::detail
