#include <isolator/call_result.hpp>
#include <isolator/events.hpp>

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

}  // namespace isolator
