// The init (PID 1) of a sandboxed child's PID namespace.
//
// The first process of a PID namespace is special: the kernel does not deliver it a signal it
// has no handler for, even one it raises itself, and when it exits every other process of the
// namespace is killed. So pihost is not that process (a plugin's abort() must still end it
// with SIGABRT): the host's spawner starts this init first, then pihost as PID 2. The init
// holds nothing of the host's (no descriptor, no environment), reaps what is reparented to
// it, and exits as soon as pihost has ended, taking down whatever pihost left behind.
#pragma once

namespace pihost {

/// Runs the init until pihost (PID 2) has ended; never returns.
[[noreturn]] void be_pid_namespace_init();

}  // namespace pihost
