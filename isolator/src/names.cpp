#include <isolator/call_result.hpp>
#include <isolator/events.hpp>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

namespace isolator {

std::string_view to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::library_not_found: return "library_not_found";
    case FailureKind::not_a_library: return "not_a_library";
    case FailureKind::symbol_not_found: return "symbol_not_found";
    case FailureKind::crashed: return "crashed";
    case FailureKind::exited: return "exited";
    case FailureKind::threw: return "threw";
    case FailureKind::timeout: return "timeout";
    case FailureKind::memory_limit: return "memory_limit";
    case FailureKind::cpu_limit: return "cpu_limit";
    case FailureKind::protocol_error: return "protocol_error";
    case FailureKind::start_failed: return "start_failed";
    case FailureKind::restart_limit: return "restart_limit";
    case FailureKind::cancelled: return "cancelled";
    case FailureKind::shutdown: return "shutdown";
    case FailureKind::limits_changed: return "limits_changed";
    case FailureKind::dependency_not_found: return "dependency_not_found";
    case FailureKind::result_too_large: return "result_too_large";
    case FailureKind::program_not_found: return "program_not_found";
    case FailureKind::not_executable: return "not_executable";
    case FailureKind::limit_unavailable: return "limit_unavailable";
  }
  return "unknown";
}

std::string_view to_string(ExitCause cause) {
  switch (cause) {
    case ExitCause::requested: return "requested";
    case ExitCause::exited: return "exited";
    case ExitCause::crashed: return "crashed";
    case ExitCause::memory_limit: return "memory_limit";
    case ExitCause::timeout: return "timeout";
    case ExitCause::cpu_limit: return "cpu_limit";
    case ExitCause::heartbeat: return "heartbeat";
    case ExitCause::cancelled: return "cancelled";
    case ExitCause::protocol_error: return "protocol_error";
    case ExitCause::limits_changed: return "limits_changed";
    case ExitCause::library_changed: return "library_changed";
  }
  return "unknown";
}

std::string_view to_string(OutputStream stream) { return stream == OutputStream::out ? "stdout" : "stderr"; }

std::string signal_name(int signal) {
  // sigabbrev_np gives "SEGV" for 11, and null for numbers without a name (real-time ones).
  if (const char* abbreviation = ::sigabbrev_np(signal); abbreviation != nullptr) {
    return std::string("SIG") + abbreviation;
  }
  return "signal " + std::to_string(signal);
}

namespace {

// The name of a crash signal's si_code ("SEGV_MAPERR"); empty for one without a name here.
std::string_view signal_code_name(int signal, int code) {
  switch (code) {
    case SI_USER: return "SI_USER";
    case SI_TKILL: return "SI_TKILL";
    case SI_QUEUE: return "SI_QUEUE";
    default: break;
  }
  switch (signal) {
    case SIGSEGV:
      if (code == SEGV_MAPERR) return "SEGV_MAPERR";
      if (code == SEGV_ACCERR) return "SEGV_ACCERR";
      break;
    case SIGBUS:
      if (code == BUS_ADRALN) return "BUS_ADRALN";
      if (code == BUS_ADRERR) return "BUS_ADRERR";
      if (code == BUS_OBJERR) return "BUS_OBJERR";
      break;
    case SIGILL:
      if (code == ILL_ILLOPC) return "ILL_ILLOPC";
      if (code == ILL_ILLOPN) return "ILL_ILLOPN";
      if (code == ILL_PRVOPC) return "ILL_PRVOPC";
      break;
    case SIGFPE:
      if (code == FPE_INTDIV) return "FPE_INTDIV";
      if (code == FPE_INTOVF) return "FPE_INTOVF";
      if (code == FPE_FLTDIV) return "FPE_FLTDIV";
      break;
    default: break;
  }
  return {};
}

std::string hex(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof(text), "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

std::string to_string(const CrashReport& report) {
  std::string out = signal_name(report.signal);
  if (report.code) {
    if (const auto code = signal_code_name(report.signal, *report.code); !code.empty()) {
      out += " (" + std::string(code) + ")";
    }
  }
  if (report.address) out += " at address " + hex(*report.address);
  if (!report.thread.empty()) out += " in thread '" + report.thread + "'";
  for (std::size_t i = 0; i < report.stack.size(); ++i) {
    const StackFrame& frame = report.stack[i];
    out += "\n  #" + std::to_string(i) + " " + (frame.function.empty() ? "??" : frame.function);
    if (!frame.file.empty()) {
      out += " at " + frame.file;
      if (frame.line > 0) out += ":" + std::to_string(frame.line);
    }
    out += frame.library.empty() ? " (" + hex(frame.offset) + ")" : " (" + frame.library + "+" + hex(frame.offset) + ")";
  }
  if (!report.note.empty()) out += "\n  note: " + report.note;
  return out;
}

}  // namespace isolator
