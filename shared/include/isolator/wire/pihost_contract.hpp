// What the host library and pihost must agree on besides the messages (protocol.hpp): the
// command line the host starts pihost with, and the exit codes by which pihost says why it
// ended. A change here is a change to both processes; both include this header, so neither
// can drift from the other unnoticed.
//
// Header-only, no OS or process code.
#pragma once

#include <string_view>

namespace isolator::wire {

// ---- pihost's command line --------------------------------------------------------------
//
//   pihost --channel PATH (--host-pid PID | --host-outside) [--max-frame-bytes N] [--core-dumps]
//          [--library-links DIR] [--max-result-bytes N] [--no-crash-reports] [--crash-report-ms N]
//   pihost --pid-namespace-init
//   pihost --report-crash FD MAX_FRAME_BYTES REPORT_MS CAPTURE
//   pihost --keep-program PIHOST_PID CPU_LIMIT_MS COUNT NAME=VALUE... -- PROGRAM [ARG...]
//
// Each flag but --host-outside, --core-dumps and --no-crash-reports takes one value, the next argument. The host
// builds this line (Child::spawn); pihost refuses any other with exit_usage. The second form
// is the first process of a sandboxed child's PID namespace (docs/sandbox.md), started by the
// host's spawner beside pihost; it must be the only argument. The third is pihost's crash
// reporter, which only pihost's own crash handler starts (see flag_report_crash). The fourth
// is a program's keeper, which only pihost starts for a Run (see flag_keep_program).

/// The path of the host's listening Unix socket, which pihost connects to. Required.
inline constexpr std::string_view flag_channel = "--channel";
/// The host's pid, in decimal: pihost watches it and leaves when it is gone. Required unless
/// --host-outside is given.
inline constexpr std::string_view flag_host_pid = "--host-pid";
/// No value: pihost runs in a PID namespace of its own, where the host has no pid (its parent
/// reads as 0). pihost then watches its parent through the death signal and getppid() only.
inline constexpr std::string_view flag_host_outside = "--host-outside";
/// No value, alone: be the init (PID 1) of a sandboxed child's PID namespace. It waits for
/// pihost (PID 2) to end, reaping what is reparented to it, then exits, which makes the
/// kernel kill everything left in the namespace.
inline constexpr std::string_view flag_pid_namespace_init = "--pid-namespace-init";
/// The largest frame pihost accepts, in bytes (positive, decimal). Optional; default
/// default_max_frame_bytes. The host passes its own Options::max_frame_bytes.
inline constexpr std::string_view flag_max_frame_bytes = "--max-frame-bytes";
/// An empty directory of the child's, which the host also put first in pihost's
/// LD_LIBRARY_PATH: pihost takes it out of its environment again at once (so that the plugin
/// and what it starts see LD_LIBRARY_PATH as the host's options set it) and links the
/// libraries a plugin needs from beside it and the search path into it, where the loader,
/// which read the variable at start, finds them (pihost/src/dependency_links.hpp). Optional:
/// without it, dependencies are found only where the system looks.
inline constexpr std::string_view flag_library_links = "--library-links";
/// The most result bytes a call may set with isolator_result_set (positive, decimal); more
/// fails the call with result_too_large. Optional; default default_max_result_bytes. The
/// host passes Options::max_result_bytes as it applies (ProcessIsolator's result cap).
inline constexpr std::string_view flag_max_result_bytes = "--max-result-bytes";
/// The variable the host puts the links directory in front of.
inline constexpr std::string_view library_path_variable = "LD_LIBRARY_PATH";
/// No value: pihost installs no crash handler (Options::crash_reports off): a crash ends the
/// process with no stack sent. pihost installs none with --core-dumps either.
inline constexpr std::string_view flag_no_crash_reports = "--no-crash-reports";
/// How long pihost's crash reporter may take to name the functions of a crashed stack, in
/// milliseconds (positive, decimal). Optional; default default_crash_report_ms. The host
/// passes half its heartbeat timeout, at most that default, so that a reporter is never
/// taken for a wedged child.
inline constexpr std::string_view flag_crash_report_ms = "--crash-report-ms";
inline constexpr unsigned default_crash_report_ms = 2000;
/// The third form, which only pihost starts: its crash handler replaces the dying process
/// with pihost's crash reporter (pihost/src/crash_reporter.hpp), the channel's descriptor,
/// pihost's frame limit, the reporter's time and what the handler recorded (hex) as its four
/// arguments.
inline constexpr std::string_view flag_report_crash = "--report-crash";
/// The fourth form, which only pihost starts for a Run: the keeper of one program
/// (pihost/src/program_keeper.hpp), a child subreaper that starts the program, waits for it,
/// kills whatever the program left behind, and reports on descriptor 3. Its arguments: the
/// pid of the pihost that started it, the CPU time each of the program's processes may use
/// in milliseconds (0: no limit), how many variables follow, the program's environment (its
/// whole: "NAME=value" each), "--", the program's argv.
inline constexpr std::string_view flag_keep_program = "--keep-program";
/// No value: pihost stays dumpable (Options::allow_core_dumps). Without it pihost makes
/// itself undumpable, so no core file and no ptrace by the user's other processes.
inline constexpr std::string_view flag_core_dumps = "--core-dumps";

// ---- pihost's exit codes ----------------------------------------------------------------
//
// Any other exit status of pihost is not its own: a plugin called exit() (or _exit()).
// The BSD sysexits values, so that they stand out from the small codes plugins tend to use.

/// The host closed the channel: the conversation ended as it should.
inline constexpr int exit_channel_closed = 0;
/// The command line was not the one above (EX_USAGE): a host and a pihost that do not match.
inline constexpr int exit_usage = 64;
/// The host is gone (at start, or seen later by the watchdog) or the channel to it could not
/// be opened or was lost (EX_UNAVAILABLE).
inline constexpr int exit_host_gone = 69;
/// A call could not be completed: its reply could not be sent, or pihost's own machinery
/// failed; pihost says which on stderr (EX_SOFTWARE).
inline constexpr int exit_internal_error = 70;
/// The host's messages broke the protocol (EX_PROTOCOL).
inline constexpr int exit_protocol = 76;

/// Why pihost exits with `code`, as a phrase that follows "pihost exits with <code> ":
/// "when it loses the channel to the host". Empty for exit_channel_closed and for any code
/// that is not pihost's: pihost exits 0 only once the host closed the channel, never during
/// a call, so a 0 there, like any other code, came from the plugin (exit() or _exit()).
/// Never throws.
constexpr std::string_view exit_code_meaning(int code) {
  switch (code) {
    case exit_usage: return "when its command line is wrong (a host and a pihost that do not match)";
    case exit_host_gone: return "when it loses the channel to the host";
    case exit_internal_error: return "when it cannot complete a call (see its stderr for why)";
    case exit_protocol: return "when the host's messages break the protocol";
    default: return {};
  }
}

}  // namespace isolator::wire
