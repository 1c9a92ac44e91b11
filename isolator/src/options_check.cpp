#include "options_check.hpp"

#include "log.hpp"
#include "platform/child_process.hpp"

#include <isolator/errors.hpp>
#include <isolator/wire/codec.hpp>
#include <isolator/wire/pihost_contract.hpp>
#include <isolator/wire/protocol.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <utility>

namespace isolator::detail {
namespace {

constexpr std::size_t min_frame_bytes = 4096;
constexpr std::size_t max_frame_limit = std::size_t{1} << 30;

}  // namespace

const Options& validated(const Options& options) {
  const auto positive = [](std::chrono::milliseconds d, const char* name) {
    if (d.count() <= 0) throw OptionsError(std::string(name) + " must be positive");
  };
  positive(options.start_timeout, "Options::start_timeout");
  if (options.call_timeout) positive(*options.call_timeout, "Options::call_timeout");
  positive(options.shutdown.graceful_timeout, "Options::shutdown.graceful_timeout");
  positive(options.shutdown.terminate_timeout, "Options::shutdown.terminate_timeout");
  positive(options.supervision.heartbeat_timeout, "Options::supervision.heartbeat_timeout");
  if (options.supervision.heartbeat_interval.count() < 0) {
    throw OptionsError("Options::supervision.heartbeat_interval must not be negative");
  }
  // The silence is checked once per interval: a timeout no longer than the interval would
  // take a healthy child for a wedged one.
  if (options.supervision.heartbeat_interval.count() > 0 &&
      options.supervision.heartbeat_timeout <= options.supervision.heartbeat_interval) {
    throw OptionsError("Options::supervision.heartbeat_timeout (" +
                       std::to_string(options.supervision.heartbeat_timeout.count()) +
                       " ms) must be longer than heartbeat_interval (" +
                       std::to_string(options.supervision.heartbeat_interval.count()) + " ms)");
  }
  // A window of zero would forget every restart at once: the limit could never be reached.
  positive(options.supervision.restart_window, "Options::supervision.restart_window");
  if (options.supervision.backoff_initial.count() < 0) {
    throw OptionsError("Options::supervision.backoff_initial must not be negative");
  }
  if (options.supervision.backoff_max < options.supervision.backoff_initial) {
    throw OptionsError("Options::supervision.backoff_max (" +
                       std::to_string(options.supervision.backoff_max.count()) +
                       " ms) must not be shorter than backoff_initial (" +
                       std::to_string(options.supervision.backoff_initial.count()) + " ms)");
  }
  // Under never, a dead child is never replaced: a spare would only cost a process.
  if (options.supervision.spare_child && options.supervision.restart == RestartPolicy::never) {
    throw OptionsError(
        "Options::supervision.spare_child needs a child to replace, but supervision.restart is never; "
        "set restart to on_failure or always, or spare_child to false");
  }
  if (options.max_frame_bytes < min_frame_bytes || options.max_frame_bytes > max_frame_limit) {
    throw OptionsError("Options::max_frame_bytes is " + std::to_string(options.max_frame_bytes) +
                       "; it must be between " + std::to_string(min_frame_bytes) + " and " +
                       std::to_string(max_frame_limit));
  }
  if (options.max_line_bytes == 0) throw OptionsError("Options::max_line_bytes must be positive");
  // Every process of the user must find the same directory; a relative one moves with the
  // working directory.
  if (!options.records_directory.empty() && !options.records_directory.is_absolute()) {
    throw OptionsError("Options::records_directory is " + options.records_directory.string() +
                       ", a relative path; give an absolute directory, or leave it empty for the default");
  }
  if (options.max_service_calls == 0) {
    throw OptionsError("Options::max_service_calls must be at least 1 (a service that can never run is no "
                       "service; leave Options::services empty to offer none)");
  }
  for (const auto& [name, service] : options.services) {
    if (name.empty()) throw OptionsError("Options::services has a service with an empty name");
    if (!service.function) throw OptionsError("Options::services[\"" + name + "\"] has no function");
  }
  if (options.max_result_bytes) {
    const std::size_t room = options.max_frame_bytes - wire::result_frame_overhead;
    if (*options.max_result_bytes == 0 || *options.max_result_bytes > room) {
      throw OptionsError("Options::max_result_bytes is " + std::to_string(*options.max_result_bytes) +
                         "; it must be between 1 and " + std::to_string(room) +
                         " (Options::max_frame_bytes less 128 bytes for the reply's other fields): raise "
                         "max_frame_bytes too, or ask for less");
    }
  }
  const auto& limits = options.limits;
  if (limits.memory_bytes && *limits.memory_bytes < (std::uint64_t{1} << 20)) {
    throw OptionsError("Options::limits.memory_bytes is " + std::to_string(*limits.memory_bytes) +
                       " bytes; a child needs at least 1 MiB (and pihost a few)");
  }
  if (limits.cpu_percent && !(*limits.cpu_percent > 0)) {
    throw OptionsError("Options::limits.cpu_percent must be positive");
  }
  if (limits.max_pids && *limits.max_pids == 0)
    throw OptionsError("Options::limits.max_pids must be positive");
  if (limits.cpu_time_per_call) positive(*limits.cpu_time_per_call, "Options::limits.cpu_time_per_call");
  for (int cpu : limits.cpu_affinity) {
    if (cpu < 0 || cpu >= affinity_cpu_count()) {
      throw OptionsError("Options::limits.cpu_affinity names CPU " + std::to_string(cpu) + ", outside 0.." +
                         std::to_string(affinity_cpu_count() - 1));
    }
  }
  for (const auto& name : options.inherit_environment) {
    if (name.empty() || name.find('=') != std::string::npos) {
      throw OptionsError("Options::inherit_environment holds an invalid name '" + name + "'");
    }
  }
  for (const auto& [name, value] : options.environment) {
    if (name.empty() || name.find('=') != std::string::npos) {
      throw OptionsError("Options::environment holds an invalid name '" + name + "'");
    }
  }
  const Hardening& hardening = options.hardening;
  if (hardening.strict && options.protection.trusted_plugin) {
    throw OptionsError(
        "Options::hardening.strict builds on the sandbox, which Options::protection.trusted_plugin turns off; "
        "set one of them");
  }
  if (!hardening.strict && (!hardening.plugin_directories.empty() || !hardening.allow_syscalls.empty())) {
    throw OptionsError(std::string("Options::hardening.") +
                       (hardening.plugin_directories.empty() ? "allow_syscalls" : "plugin_directories") +
                       " is given, but it only applies to the strict profile; set Options::hardening.strict too");
  }
  return options;
}

std::vector<std::string> child_environment(const Options& options) {
  std::map<std::string, std::string> env;
  for (const auto& name : options.inherit_environment) {
    if (const char* value = std::getenv(name.c_str()); value != nullptr) env[name] = value;
  }
  for (const auto& [name, value] : options.environment) env[name] = value;
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  return entries;
}

Limits enforceable_limits(const Options& options, const BackendCheck& check) {
  Limits limits = options.limits;
  std::string refused;
  for (const auto& limit : check.limits) {
    if (limit.enforceable || !limit.kind || !limits.is_set(*limit.kind)) continue;
    switch (*limit.kind) {
      case LimitKind::memory: limits.memory_bytes.reset(); break;
      case LimitKind::cpu: limits.cpu_percent.reset(); break;
      case LimitKind::pids: limits.max_pids.reset(); break;
      case LimitKind::affinity: limits.cpu_affinity.clear(); break;
      case LimitKind::cpu_time: limits.cpu_time_per_call.reset(); break;
    }
    refused += "\n  " + limit.limit + ": " + limit.how + (limit.fix.empty() ? "" : "; fix: " + limit.fix);
  }
  if (refused.empty()) return limits;
  const std::string message = std::string(to_string(check.backend)) +
                              " cannot enforce these requested limits:" + refused;
  if (options.require_limits) throw StartError(message + "\n(Options::require_limits is set)");
  log().warn("{}\nthe child runs without them (set Options::require_limits to refuse)", message);
  return limits;
}

std::chrono::milliseconds crash_report_time(const Options& options) {
  const std::chrono::milliseconds most{wire::default_crash_report_ms};
  if (options.supervision.heartbeat_interval.count() == 0) return most;
  return std::clamp(options.supervision.heartbeat_timeout / 2, std::chrono::milliseconds{1}, most);
}

}  // namespace isolator::detail

namespace isolator {

std::size_t result_bytes_cap(const Options& options) {
  if (options.max_result_bytes) return *options.max_result_bytes;
  const std::size_t room =
      options.max_frame_bytes > wire::result_frame_overhead ? options.max_frame_bytes - wire::result_frame_overhead : 0;
  return std::min(wire::default_max_result_bytes, room);
}

}  // namespace isolator
