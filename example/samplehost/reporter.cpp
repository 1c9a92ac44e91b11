#include "reporter.hpp"

#include "result_bytes.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

namespace samplehost {
namespace {

// Keys in the order they are written (the documented shapes), not sorted.
using json = nlohmann::ordered_json;

// Plugin output need not be UTF-8; replace what is not, rather than fail to print it.
std::string dump(const json& object) { return object.dump(-1, ' ', false, json::error_handler_t::replace); }

json optional_number(const std::optional<int>& value) { return value ? json(*value) : json(nullptr); }

json usage_json(const isolator::Usage& usage) {
  return {{"wall_us", usage.wall.count()},
          {"cpu_user_us", usage.cpu_user.count()},
          {"cpu_sys_us", usage.cpu_sys.count()},
          {"peak_rss_bytes", usage.peak_rss_bytes}};
}

// A crash report as the "error" object's keys: "crash" (signal, code, address, thread, note)
// and "stack", one object per frame.
void add_crash(json& error, const isolator::CrashReport& crash) {
  json stack = json::array();
  for (const auto& frame : crash.stack) {
    stack.push_back({{"function", frame.function},
                     {"library", frame.library},
                     {"offset", frame.offset},
                     {"file", frame.file},
                     {"line", frame.line}});
  }
  error["stack"] = std::move(stack);
  error["crash"] = {{"signal", isolator::signal_name(crash.signal)},
                    {"code", optional_number(crash.code)},
                    {"address", crash.address ? json(*crash.address) : json(nullptr)},
                    {"thread", crash.thread},
                    {"note", crash.note}};
}

json limits_json(const isolator::CallLimits& limits) {
  return {{"memory_bytes", limits.memory_bytes ? json(*limits.memory_bytes) : json(nullptr)},
          {"cpu_time_ms", limits.cpu_time ? json(limits.cpu_time->count()) : json(nullptr)},
          {"max_pids", limits.max_pids ? json(*limits.max_pids) : json(nullptr)}};
}

// "limits: memory 67108864 bytes, cpu-time 200 ms, pids 32"; empty when none applied.
std::string human_limits(const isolator::CallLimits& limits) {
  std::string text;
  const auto add = [&text](const std::string& item) { text += (text.empty() ? "limits: " : ", ") + item; };
  if (limits.memory_bytes) add("memory " + std::to_string(*limits.memory_bytes) + " bytes");
  if (limits.cpu_time) add("cpu-time " + std::to_string(limits.cpu_time->count()) + " ms");
  if (limits.max_pids) add("pids " + std::to_string(*limits.max_pids));
  return text;
}

std::string human_usage(const isolator::Usage& usage) {
  return "wall " + std::to_string(usage.wall.count()) + " us, cpu " + std::to_string(usage.cpu_user.count()) +
         " us user + " + std::to_string(usage.cpu_sys.count()) + " us sys, peak rss " +
         std::to_string(usage.peak_rss_bytes / 1024) + " KiB";
}

}  // namespace

void Reporter::print(const std::string& line) {
  std::lock_guard lock(mutex_);
  std::cout << line << '\n' << std::flush;
}

void Reporter::program(const std::vector<std::string>& argv, const std::string& interpreter) {
  if (json_) {
    print(dump({{"event", "program"},
                {"argv", argv},
                {"interpreter", interpreter.empty() ? json(nullptr) : json(interpreter)}}));
    return;
  }
  std::string line = interpreter.empty() ? "running" : "running " + argv.at(1) + " with " + interpreter + ":";
  for (const auto& arg : argv) line += " " + arg;
  print(line);
}

void Reporter::event(const isolator::Event& event) {
  if (const auto* started = std::get_if<isolator::StartedEvent>(&event)) {
    json line = {{"event", "started"}, {"pid", started->pid}, {"containment", started->containment}};
    if (started->spare) line["spare"] = true;  // only then: the usual line stays as it was
    print(json_ ? dump(line)
                : "started " + std::string(started->spare ? "spare " : "") + "pihost pid " +
                      std::to_string(started->pid) + " (containment: " + started->containment + ")");
  } else if (const auto* failed = std::get_if<isolator::StartFailedEvent>(&event)) {
    print(json_ ? dump({{"event", "start_failed"}, {"message", failed->message}})
                : "start failed: " + failed->message);
  } else if (const auto* attempt = std::get_if<isolator::RestartAttemptEvent>(&event)) {
    if (!json_) {
      print("restarting (attempt " + std::to_string(attempt->attempt) + ") in " +
            std::to_string(attempt->delay.count()) + " ms");
    }
  } else if (const auto* restarted = std::get_if<isolator::RestartedEvent>(&event)) {
    print(json_ ? dump({{"event", "restart"},
                        {"old_pid", restarted->old_pid},
                        {"new_pid", restarted->new_pid},
                        {"attempt", restarted->attempt},
                        {"delay_ms", restarted->delay.count()}})
                : "restarted: pid " + std::to_string(restarted->new_pid) + " replaces pid " +
                      std::to_string(restarted->old_pid));
  } else if (const auto* changed = std::get_if<isolator::LibraryChangedEvent>(&event)) {
    print(json_ ? dump({{"event", "library_changed"},
                        {"pid", changed->pid},
                        {"library", changed->library},
                        {"what", changed->what}})
                : changed->library + " changed (" + changed->what + ") since pihost pid " +
                      std::to_string(changed->pid) + " loaded it: replacing the child");
  } else if (const auto* limit = std::get_if<isolator::RestartLimitEvent>(&event)) {
    print(json_ ? dump({{"event", "restart_limit"}, {"attempts", limit->attempts}})
                : "restart limit reached after " + std::to_string(limit->attempts) +
                      " restarts: calls fail until reset");
  } else if (const auto* exited = std::get_if<isolator::ExitedEvent>(&event)) {
    const json signal = exited->signal ? json(isolator::signal_name(*exited->signal)) : json(nullptr);
    const std::string cause(isolator::to_string(exited->cause));
    print(json_
              ? dump({{"event", "exited"},
                      {"pid", exited->pid},
                      {"exit_code", optional_number(exited->exit_code)},
                      {"signal", signal},
                      {"cause", cause}})
              : "pihost pid " + std::to_string(exited->pid) +
                    (exited->signal ? " was killed by " + isolator::signal_name(*exited->signal)
                                    : " exited with code " + std::to_string(exited->exit_code.value_or(-1))) +
                    " (" + cause + ")");
  }
}

void Reporter::output(isolator::OutputStream stream, std::string_view line) {
  const std::string stream_name(isolator::to_string(stream));
  const int call = current_call_.load();
  print(json_ ? dump({{"event", "output"},
                      {"call", call > 0 ? json(call) : json(nullptr)},
                      {"stream", stream_name},
                      {"line", std::string(line)}})
              : "[" + stream_name + "] " + std::string(line));
}

void Reporter::result(int call, const isolator::CallResult& result) {
  if (json_) {
    json object = {{"event", "result"}, {"call", call}, {"ok", result.ok()}};
    if (result.ok()) {
      object["code"] = *result.code;
      if (result.bytes) {
        object["bytes"] = base64(*result.bytes);
        if (auto value = msgpack_value(*result.bytes)) object["value"] = std::move(*value);
      }
    } else {
      const auto& failure = *result.failure;
      object["error"] = {
          {"kind", std::string(isolator::to_string(failure.kind))},
          {"signal", failure.signal ? json(isolator::signal_name(*failure.signal)) : json(nullptr)},
          {"exit_code", optional_number(failure.exit_code)},
          {"message", failure.message}};
      if (!failure.exception_type.empty()) object["error"]["exception_type"] = failure.exception_type;
      if (failure.crash) add_crash(object["error"], *failure.crash);
    }
    object["pid"] = result.pid;
    object["containment"] = result.containment;
    object["limits"] = limits_json(result.limits);
    object["usage"] = usage_json(result.usage);
    object["output_truncated"] = result.output_truncated;
    print(dump(object));
    return;
  }
  const std::string head = "call " + std::to_string(call) + ": ";
  if (result.ok()) {
    const std::string limits = human_limits(result.limits);
    print(head + "returned " + std::to_string(*result.code) + " (" + human_usage(result.usage) +
          (limits.empty() ? "" : "; " + limits) + ")");
    if (result.bytes) {
      const std::string size = std::to_string(result.bytes->size()) + " bytes";
      if (auto value = msgpack_value(*result.bytes)) {
        print(head + "returned " + size + ", a msgpack value: " + dump(*value));
      } else {
        print(head + "returned " + size + ": " + (result.bytes->empty() ? "(empty)" : hex(*result.bytes, 256)));
      }
    }
  } else {
    print(head + "failed: " + std::string(isolator::to_string(result.failure->kind)) + ": " +
          result.failure->message);
    if (!result.failure->exception_type.empty()) print(head + "exception type: " + result.failure->exception_type);
    if (result.failure->crash) print(head + "crash report: " + isolator::to_string(*result.failure->crash));
  }
}

void Reporter::jobs(const std::vector<isolator::JobStatus>& jobs) {
  const auto outcome = [](const isolator::JobStatus& job) -> std::string {
    if (!job.result) return "";
    return job.result->ok() ? "returned" : std::string(isolator::to_string(job.result->failure->kind));
  };
  if (json_) {
    json list = json::array();
    for (const auto& job : jobs) {
      list.push_back({{"id", job.id},
                      {"state", std::string(isolator::to_string(job.state))},
                      {"what", job.what},
                      {"pid", job.pid},
                      {"outcome", job.result ? json(outcome(job)) : json(nullptr)}});
    }
    print(dump({{"event", "jobs"}, {"jobs", std::move(list)}}));
    return;
  }
  for (const auto& job : jobs) {
    std::string line = "job " + std::to_string(job.id) + ": " + std::string(isolator::to_string(job.state)) + " " +
                       job.what;
    if (job.pid != 0) line += " (pid " + std::to_string(job.pid) + ")";
    if (job.result) line += ": " + outcome(job);
    print(line);
  }
}

void Reporter::plugin_log(std::string_view text) {
  const int call = current_call_;
  print(json_ ? dump({{"event", "log"}, {"call", call > 0 ? json(call) : json(nullptr)}, {"text", std::string(text)}})
              : "[log] " + std::string(text));
}

void Reporter::error(const std::string& message) {
  if (json_) {
    print(dump({{"event", "error"}, {"message", message}}));
  } else {
    std::lock_guard lock(mutex_);
    std::cerr << "samplehost: " << message << '\n';
  }
}

}  // namespace samplehost
