// Options::hardening: what this machine provides, and how the child is set up for it.
//
// The set-up itself runs in the child between clone and exec (spawn.cpp): this file only
// prepares what it needs (the seccomp program, the user-namespace maps), so that the child
// makes nothing but raw system calls.
#pragma once

#include <isolator/options.hpp>
#include <isolator/probe.hpp>

#include <linux/filter.h>

#include <string>
#include <vector>

namespace isolator::detail {

/// "no-network" and "deny-syscalls": available here or not, how, and the fix.
std::vector<LimitCheck> check_hardening();

/// Throws StartError naming the measure and the fix when `hardening` asks for one this
/// machine does not provide.
void require_hardening(const Hardening& hardening);

/// What the child applies before exec, outside the sandbox.
struct HardeningPlan {
  bool new_network = false;  ///< unshare a network namespace
  bool new_user = false;     ///< with a user namespace (not root): the maps below
  std::string uid_map;       ///< "UID UID 1": the host's user, as itself
  std::string gid_map;
  std::vector<sock_filter> seccomp;  ///< empty: no filter
};

/// What the child applies before exec. `sandboxed`: the default sandbox (sandbox.hpp) makes
/// the namespaces, so only the seccomp filter is planned here, and it also refuses
/// pidfd_getfd and the kernel keyring calls (keyctl, add_key, request_key), which reach what
/// the host's user holds outside the sandbox.
HardeningPlan plan_hardening(const Hardening& hardening, bool sandboxed);

}  // namespace isolator::detail
