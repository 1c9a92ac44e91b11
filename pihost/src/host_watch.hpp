// pihost's layers against outliving the host, and against leaving anything behind.
//
// pihost is a child subreaper: whatever its plugins start, however they detach (fork,
// setsid, double fork), stays its descendant. Before pihost exits for any reason it
// controls (channel closed, host gone, a call it cannot answer, a plugin's exit()), it kills
// every descendant. A watchdog thread, independent of the thread running calls, watches the host
// through a pidfd and through the death signal (PR_SET_PDEATHSIG), and when the host is gone
// it kills every descendant and exits.
#pragma once

#include <isolator/wire/pihost_contract.hpp>

#include <sys/types.h>

namespace pihost {

/// The signal the kernel sends pihost when the host's spawning thread dies. It is blocked in
/// every pihost thread (and so in what plugins start) and taken by the watchdog.
int host_gone_signal();

/// Arms the death signal, checks that the host is still the parent, becomes a subreaper,
/// and installs kill_descendants() as an atexit handler. Call first, before any thread
/// starts. Exits with isolator::wire::exit_host_gone when the host is already gone.
void guard_against_orphans(pid_t host_pid);

/// Starts the watchdog thread. Its host pidfd sits at a descriptor of 100 or more.
void start_host_watch(pid_t host_pid);

/// Kills every descendant of pihost and reaps the ones that become its children. Bounded:
/// it gives up after a few rounds against a plugin that forks faster than it kills.
void kill_descendants();

/// kill_descendants(), then _exit(code) without running static destructors.
[[noreturn]] void leave(int code);

}  // namespace pihost
