// Failure interpretation: what the child reported, how it ended and why the isolator killed
// it, turned into a Failure whose message a person can act on. Pure functions of their
// arguments: no state, no I/O, any thread.
#pragma once

#include "../platform/child_process.hpp"

#include <isolator/call_result.hpp>
#include <isolator/events.hpp>
#include <isolator/process_isolator.hpp>
#include <isolator/wire/protocol.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace isolator::detail {

/// "'method' of /path/libplugin.so", as messages name a call; "program '/bin/sort'" for a
/// program's call.
std::string describe_call(const Invocation& invocation);

/// What a program's call is known by in the engine (messages, the reload check, retries): an
/// Invocation whose `library` is the program (argv[0]) and whose `symbol` is empty, which a
/// method's never is (check_sendable refuses it).
Invocation program_description(std::string program, CallOptions options);
/// True for program_description()'s Invocations.
bool is_program(const Invocation& invocation);

/// pihost's report of a call that did not return normally, as a FailureKind.
FailureKind to_kind(wire::FailureReason reason);

/// pihost's usage figures as the public Usage.
Usage to_usage(const wire::Usage& usage);

/// Why the child that was running `running` ended, from its exit status alone (no cause was
/// recorded: nobody killed it on purpose and the kernel's OOM killer did not).
/// `method_started`: whether pihost said the method began; before it, the child died loading
/// the library (a static initializer, say), and the message says so.
Failure death_failure(int pid, const ExitStatus& status, const Invocation& running, bool method_started);

/// pihost's Crash message as the public CrashReport.
CrashReport to_crash_report(wire::Crash crash);

/// True for the signals pihost's crash handler reports (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
/// SIGABRT).
bool is_crash_signal(int signal);

/// The report of a child that died of crash signal `signal` without sending one: no stack,
/// and the note says what can keep the handler from reporting; with `core_dumps`
/// (Options::allow_core_dumps), that the core was kept instead.
CrashReport missing_crash_report(int signal, bool core_dumps);

/// `failure` (a crash) with `report` attached, and its message naming the innermost frame.
void attach_crash(Failure& failure, CrashReport report);

/// The call passed its deadline; the child (`pid`) is being killed.
Failure timeout_failure(const Invocation& call, std::chrono::milliseconds timeout, int pid);
/// The call used `used` of CPU time, past `limit` (the call's own override when
/// `call_override`); the child is being killed.
Failure cpu_limit_failure(const Invocation& call, std::chrono::microseconds used,
                          std::chrono::microseconds limit, int pid, bool call_override = false);
/// The caller cancelled the running call; the child is being killed.
Failure cancelled_failure(const Invocation& call, int pid);
/// The child answered no heartbeat for `silent`; it is being killed.
Failure heartbeat_failure(int pid, std::chrono::milliseconds silent);
/// The kernel's OOM killer stopped the call at the box's memory limit, `limit_bytes` (the
/// call's own override when `call_override`).
Failure memory_limit_failure(const Invocation& call, std::optional<std::uint64_t> limit_bytes,
                             const std::string& containment, bool call_override = false);

/// "FILE was set to 'A' and now reads 'B'", for each change, joined by "; ". `changes`
/// must not be empty.
std::string describe_changes(const std::vector<ChangedLimit>& changes);
/// The limits of the child (`pid`) no longer read as set when `call` returned; the child is
/// being killed and will be replaced.
Failure limits_changed_failure(const Invocation& call, const std::vector<ChangedLimit>& changes, int pid);

/// Why a child ended, for its ExitedEvent: the cause the isolator recorded when it killed it
/// stands; else a stop it asked for, the OOM killer, a signal, or an exit.
ExitCause exit_cause(std::optional<ExitCause> kill_cause, bool stop_requested, bool oom_killed,
                     const ExitStatus& status);

}  // namespace isolator::detail
