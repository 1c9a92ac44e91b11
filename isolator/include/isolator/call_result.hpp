// The outcome of one call: what the method returned, or why it did not, plus what the call
// cost and what it printed.
//
// A finished call is a value, never an exception: "the child crashed" is a CallResult with a
// Failure, while "the library could not do its job" (bad options, use after shutdown) throws.
#pragma once

#include <isolator/limits.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isolator {

/// Why a call did not return from the method. The list is closed; the spelling of each
/// name (to_string) is part of the API and appears in samplehost's JSON.
enum class FailureKind {
  library_not_found,  ///< the library path does not exist (or cannot be reached by the child)
  not_a_library,      ///< not a regular ELF shared object, or dlopen refused it (dlerror)
  symbol_not_found,   ///< the library has no such symbol
  crashed,            ///< the child died of a signal during the call (Failure::signal); for run(),
                      ///< the program did (the child stays)
  exited,             ///< the child exited during the call, e.g. the method called exit()
  threw,              ///< a C++ exception escaped the method (its what() in the message)
  timeout,            ///< the call's deadline passed; the child was killed
  memory_limit,       ///< the child hit its memory limit
  cpu_limit,          ///< the child hit its CPU-time limit
  protocol_error,     ///< the child broke the wire protocol; it was killed
  start_failed,       ///< no child could be started to run the call
  restart_limit,      ///< the isolator gave up restarting its child (the message says why the last
                      ///< restart could not start one, when that was the last death)
  cancelled,          ///< the caller cancelled the call
  shutdown,           ///< the isolator shut down before the call completed
  /// The child's limits changed during the call: a limit the containment set (a cgroup
  /// limit file, or a hard rlimit) no longer read as set when the call returned, because the
  /// plugin (with the privilege to) wrote it. The child was killed and is replaced; the next
  /// call runs on a fresh child with the limits set again. The message names each limit (its
  /// file), the value set and the value found. (Appended last: the other kinds keep their
  /// values.)
  limits_changed,
  /// A library that the called library needs (DT_NEEDED, directly or through another one) was
  /// found neither beside it, nor in the library search path (CallOptions and Options), nor
  /// where the system looks; the message names it, which library needs it, and the
  /// directories looked in. The child stays. (Appended: the other kinds keep their values.)
  dependency_not_found,
  /// The method set more result bytes (isolator_result_set) than the cap,
  /// Options::max_result_bytes; the message says how many and the cap. The bytes are not
  /// delivered; the child stays. (Appended: the other kinds keep their values.)
  result_too_large,
  /// run(): the program was not found: nothing at its absolute path, or its name is in no
  /// directory of PATH (the message lists the directories looked in). The child stays.
  /// (Appended: the other kinds keep their values.)
  program_not_found,
  /// run(): the program's file exists but cannot be executed: no execute permission, a
  /// directory, not a format this machine runs, or its ELF interpreter or #! interpreter is
  /// missing (the message names it). The child stays. (Appended.)
  not_executable,
  /// A per-call limit (CallOptions::limits) cannot be enforced by the backend that confines
  /// the child: the message names the override, why, and the fix. The call was not run;
  /// the child stays, under its isolator's limits. (Appended.)
  limit_unavailable,
};

/// The kind's name exactly as spelled in the enum ("library_not_found", ...); "unknown" for
/// a value outside the enum. Never throws; may be called from any thread.
std::string_view to_string(FailureKind kind);

/// "SIGSEGV" for 11 and so on; "signal N" for a number without a name. May be called from
/// any thread.
std::string signal_name(int signal);

/// One frame of a crashed thread's stack. What was not known is empty (or 0).
struct StackFrame {
  /// The function, demangled ("geometry::area(Shape const&)"); empty when the library's
  /// symbols do not name it (a stripped library keeps only its exported functions' names).
  std::string function;
  /// The path the library was loaded from (pihost's own for pihost's frames); empty for an
  /// address in no library the loader knows.
  std::string library;
  /// The address in the library's own numbering, as `addr2line -e LIBRARY` and `objdump`
  /// take it: the crashed instruction for the innermost frame, the return address for the
  /// others. The address itself when `library` is empty.
  std::uint64_t offset = 0;
  /// The source file, from the library's debug information (built with -g).
  std::string file;
  /// The line in `file`; 0 when unknown.
  int line = 0;
};

/// Where a crashed child's thread was when it got its signal, as pihost's crash reporter
/// read it (docs/crash-reports.md). It comes from the crashed process and is as untrusted as
/// the plugin: a plugin can forge it.
struct CrashReport {
  /// The signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT).
  int signal = 0;
  /// Its si_code: SEGV_MAPERR, SEGV_ACCERR, BUS_ADRALN, FPE_INTDIV, ...; 0 or less when a
  /// process sent it (SI_USER, SI_TKILL: abort() and kill). None when no report came.
  std::optional<int> code;
  /// The faulting address (si_addr) of a fault the kernel raised; none for a signal sent.
  std::optional<std::uint64_t> address;
  /// The crashed thread's name ("pihost" for the thread that runs methods, unless the
  /// plugin renamed it).
  std::string thread;
  /// The crashed thread's stack, innermost frame first, at most 256 frames (the innermost
  /// of a deeper one). Empty when none came: `note` says why.
  std::vector<StackFrame> stack;
  /// What is missing and why ("no stack: ..."; function names without libdw; frames cut);
  /// empty when nothing is.
  std::string note;
};

/// The report as a person reads it: a first line with the signal, its code, the address and
/// the thread, then one line per frame, innermost first, then the note:
///
///     SIGSEGV (SEGV_MAPERR) at address 0x0 in thread 'pihost'
///       #0 level_three(int*) at /src/plugin.cpp:12 (/opt/plugins/libplugin.so+0x1139)
///       #1 ?? (/opt/plugins/libstripped.so+0x1150)
///       note: ...
///
/// Never throws but std::bad_alloc; any thread.
std::string to_string(const CrashReport& report);

/// Why a call did not return from the method, with what the kernel and pihost said.
struct Failure {
  /// The kind of failure; see FailureKind.
  FailureKind kind = FailureKind::crashed;
  /// What happened, for a person: paths, signal names, dlerror text, limits.
  std::string message;
  /// The child's exit code, for `exited` (and other kinds when the child exited).
  std::optional<int> exit_code;
  /// The signal that killed the child, for `crashed` (and `timeout` etc. when it applies).
  std::optional<int> signal;
  /// For `crashed` by SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT, while crash reports are on
  /// (Options::crash_reports): where the thread was. Its stack is empty, and its note says
  /// why, when the child died without sending one.
  std::optional<CrashReport> crash;
  /// For `threw`: the exception's type, demangled ("std::out_of_range",
  /// "parser::SyntaxError"); empty for other kinds, or when the runtime did not know it.
  std::string exception_type;
};

/// What the call cost in the child, as measured by pihost around the call. Zero when the
/// child died before it could report.
struct Usage {
  /// Wall-clock time of the method call itself, in pihost.
  std::chrono::microseconds wall{0};
  /// User CPU time of the child during the call (the whole cgroup where the backend has one).
  std::chrono::microseconds cpu_user{0};
  /// System CPU time, likewise.
  std::chrono::microseconds cpu_sys{0};
  /// Peak resident set of the child during the call.
  std::int64_t peak_rss_bytes = 0;
};

/// Which of the child's streams a line came from.
enum class OutputStream {
  out,  ///< stdout
  err,  ///< stderr
};

/// "stdout" or "stderr". Never throws; may be called from any thread.
std::string_view to_string(OutputStream stream);

/// One line the child wrote during a call.
struct OutputLine {
  /// The stream it was written to.
  OutputStream stream = OutputStream::out;
  std::string text;  ///< without the trailing newline
};

/// The outcome of one call: exactly one of `code` and `failure`, plus its cost and output.
/// A value, never an exception: see the file comment.
struct CallResult {
  /// The method's return value; set exactly when `failure` is not.
  std::optional<int> code;
  /// The bytes the method handed back with isolator_result_set (the last it set), when it
  /// set any and returned; nothing when it set none, or the call failed. At most
  /// Options::max_result_bytes (more fails the call with `result_too_large`). Read a msgpack
  /// value from them with isolator::from_bytes (isolator/values.hpp).
  std::optional<std::string> bytes;
  /// Why the method did not return; set exactly when `code` is not.
  std::optional<Failure> failure;
  /// What the call cost in the child.
  Usage usage;
  /// Lines the child wrote to stdout and stderr during the call, in the order they were
  /// read, up to Options::max_output_bytes_per_call. When more was written, the last line is
  /// a marker saying how much was dropped, and `output_truncated` is true.
  std::vector<OutputLine> output;
  /// True when output was dropped past Options::max_output_bytes_per_call.
  bool output_truncated = false;
  /// The pid of the child that ran (or was to run) the call; 0 when none was started.
  int pid = 0;
  /// The backend that confined the call: "cgroup-v2", "cgroup-v1", "rlimit" ("" when no
  /// child ran it).
  std::string containment;
  /// The limits that applied to the call: each the call's override (CallOptions::limits)
  /// where it set one, else the isolator's as enforced (Options::limits, less what the
  /// backend cannot enforce); unset: no limit. All unset when no child ran the call.
  CallLimits limits;

  /// True when the method returned (whatever its code); false when the call failed.
  bool ok() const { return code.has_value(); }
};

}  // namespace isolator
