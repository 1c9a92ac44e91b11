#include "failure_interpretation.hpp"

#include "../completion.hpp"

#include <isolator/wire/pihost_contract.hpp>

#include <algorithm>
#include <csignal>
#include <limits>

namespace isolator::detail {

std::string describe_call(const Invocation& invocation) {
  if (is_program(invocation)) return "program '" + invocation.library + "'";
  return "'" + invocation.symbol + "' of " + invocation.library;
}

Invocation program_description(std::string program, CallOptions options) {
  return Invocation{std::move(program), {}, {}, std::move(options), {}};
}

bool is_program(const Invocation& invocation) { return invocation.symbol.empty(); }

FailureKind to_kind(wire::FailureReason reason) {
  switch (reason) {
    case wire::FailureReason::library_not_found: return FailureKind::library_not_found;
    case wire::FailureReason::not_a_library: return FailureKind::not_a_library;
    case wire::FailureReason::symbol_not_found: return FailureKind::symbol_not_found;
    case wire::FailureReason::threw: return FailureKind::threw;
    case wire::FailureReason::memory_limit: return FailureKind::memory_limit;
    case wire::FailureReason::dependency_not_found: return FailureKind::dependency_not_found;
    case wire::FailureReason::result_too_large: return FailureKind::result_too_large;
    case wire::FailureReason::program_not_found: return FailureKind::program_not_found;
    case wire::FailureReason::not_executable: return FailureKind::not_executable;
    case wire::FailureReason::program_signalled: return FailureKind::crashed;
    case wire::FailureReason::program_cpu_limit: return FailureKind::cpu_limit;
    case wire::FailureReason::program_start_failed: return FailureKind::start_failed;
  }
  return FailureKind::protocol_error;
}

Usage to_usage(const wire::Usage& u) {
  return Usage{std::chrono::microseconds(u.wall_us), std::chrono::microseconds(u.cpu_user_us),
               std::chrono::microseconds(u.cpu_sys_us), u.peak_rss_bytes};
}

namespace {

Failure failure(FailureKind kind, std::string message) { return failure_of(kind, std::move(message)); }

std::string pihost_named(int pid) { return "pihost (pid " + std::to_string(pid) + ")"; }

}  // namespace

Failure death_failure(int pid, const ExitStatus& status, const Invocation& running, bool method_started) {
  const std::string pihost = pihost_named(pid);
  const std::string during =
      method_started ? " while running " + describe_call(running)
      : is_program(running)
          ? " while starting " + describe_call(running) + ", before it was exec'ed"
          : " while loading " + running.library + " for '" + running.symbol +
                "', before the method ran (a static initializer?)";
  Failure result;
  result.exit_code = status.exit_code;
  result.signal = status.signal;
  if (status.signal) {
    result.kind = FailureKind::crashed;
    result.message = pihost + " was killed by " + signal_name(*status.signal) + during;
  } else if (status.exit_code) {
    // pihost's own exit codes could also come from a plugin's exit(): say what each means.
    const auto meaning = wire::exit_code_meaning(*status.exit_code);
    result.kind = FailureKind::exited;
    result.message = "the process exited with code " + std::to_string(*status.exit_code) + during + " (" +
                     pihost + ")" +
                     (meaning.empty() ? std::string("; a method must return, not call exit()")
                                      : "; pihost exits with " + std::to_string(*status.exit_code) + " " +
                                            std::string(meaning));
  } else {
    result.kind = FailureKind::crashed;
    result.message = pihost + " ended" + during +
                     ", but its exit status could not be read: the application ignores "
                     "SIGCHLD or reaps children it did not start";
  }
  return result;
}

CrashReport to_crash_report(wire::Crash crash) {
  CrashReport report;
  report.signal = crash.signal;
  report.code = crash.code;
  if (crash.address != 0 || (crash.code > 0 && crash.signal != SIGABRT)) report.address = crash.address;
  report.thread = std::move(crash.thread);
  report.note = std::move(crash.note);
  report.stack.reserve(crash.frames.size());
  for (auto& frame : crash.frames) {
    report.stack.push_back(StackFrame{std::move(frame.function), std::move(frame.library), frame.offset,
                                      std::move(frame.file), static_cast<int>(std::min<std::uint32_t>(
                                                                 frame.line, std::numeric_limits<int>::max()))});
  }
  return report;
}

bool is_crash_signal(int signal) {
  return signal == SIGSEGV || signal == SIGBUS || signal == SIGILL || signal == SIGFPE || signal == SIGABRT;
}

CrashReport missing_crash_report(int signal, bool core_dumps) {
  CrashReport report;
  report.signal = signal;
  if (core_dumps) {
    report.note = "no stack: Options::allow_core_dumps is on, so pihost installs no crash handler (its crash "
                  "reporter would take the crashed process's place, and its core); the core dump holds the stack";
    return report;
  }
  report.note = "no stack: pihost died of " + signal_name(signal) +
                " without sending a crash report. Its handler could not run or finish: a stack overflow in a "
                "thread the plugin started (which has no alternate signal stack), a plugin that installed its "
                "own handler for the signal, a fault inside the handler (a stack too corrupt to walk), or a "
                "crash in the middle of a message to the host";
  return report;
}

void attach_crash(Failure& failure, CrashReport report) {
  // The innermost frame that names something: the message alone then says where.
  const auto named = std::find_if(report.stack.begin(), report.stack.end(),
                                  [](const StackFrame& frame) { return !frame.function.empty(); });
  if (named != report.stack.end()) {
    failure.message += (named == report.stack.begin() ? "; it crashed in " : "; the innermost frame with a name is ") +
                       named->function;
    if (!named->file.empty()) {
      failure.message += " at " + named->file + (named->line > 0 ? ":" + std::to_string(named->line) : "");
    }
    failure.message += " (the stack is in Failure::crash)";
  } else if (report.stack.empty()) {
    failure.message += "; no stack came with it (Failure::crash says why)";
  }
  failure.crash = std::move(report);
}

Failure timeout_failure(const Invocation& call, std::chrono::milliseconds timeout, int pid) {
  return failure(FailureKind::timeout, "the call to " + describe_call(call) + " exceeded its timeout of " +
                                           std::to_string(timeout.count()) + " ms; " + pihost_named(pid) +
                                           " was killed");
}

Failure cpu_limit_failure(const Invocation& call, std::chrono::microseconds used,
                          std::chrono::microseconds limit, int pid, bool call_override) {
  return failure(FailureKind::cpu_limit,
                 "the call to " + describe_call(call) + " used " + std::to_string(used.count() / 1000) +
                     " ms of CPU time, past its limit of " + std::to_string(limit.count() / 1000) + " ms" +
                     (call_override ? " (the call's own, CallOptions::limits.cpu_time)" : "") + "; " +
                     pihost_named(pid) + " was killed");
}

Failure cancelled_failure(const Invocation& call, int pid) {
  return failure(FailureKind::cancelled, "the caller cancelled the call to " + describe_call(call) +
                                             " while it ran; " + pihost_named(pid) +
                                             " was killed and will be replaced");
}

Failure heartbeat_failure(int pid, std::chrono::milliseconds silent) {
  return failure(FailureKind::timeout, pihost_named(pid) + " answered no heartbeat for " +
                                           std::to_string(silent.count()) +
                                           " ms (stopped or wedged) and was killed");
}

Failure memory_limit_failure(const Invocation& call, std::optional<std::uint64_t> limit_bytes,
                             const std::string& containment, bool call_override) {
  return failure(FailureKind::memory_limit,
                 "the kernel's OOM killer stopped the call to " + describe_call(call) +
                     ": the child reached its memory limit of " + std::to_string(limit_bytes.value_or(0)) +
                     " bytes (" + containment +
                     (call_override ? "; the call's own, CallOptions::limits.memory_bytes" : "") + ")");
}

std::string describe_changes(const std::vector<ChangedLimit>& changes) {
  std::string text;
  for (const auto& change : changes) {
    if (!text.empty()) text += "; ";
    text += change.name + " was set to '" + change.set + "' and now reads '" + change.found + "'";
  }
  return text;
}

Failure limits_changed_failure(const Invocation& call, const std::vector<ChangedLimit>& changes, int pid) {
  return failure(FailureKind::limits_changed,
                 "the limits of " + pihost_named(pid) + " changed during the call to " + describe_call(call) +
                     ": " + describe_changes(changes) +
                     "; it was killed and will be replaced by a child with the limits set again");
}

ExitCause exit_cause(std::optional<ExitCause> kill_cause, bool stop_requested, bool oom_killed,
                     const ExitStatus& status) {
  if (kill_cause) return *kill_cause;
  if (stop_requested) return ExitCause::requested;
  if (oom_killed) return ExitCause::memory_limit;
  return status.signal ? ExitCause::crashed : ExitCause::exited;
}

}  // namespace isolator::detail
