#include "call_check.hpp"

#include <isolator/errors.hpp>
#include <isolator/wire/codec.hpp>

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>
#include <string>
#include <system_error>

namespace isolator::detail {

void check_call_limits(const CallLimits& limits, std::string_view call) {
  constexpr std::uint64_t mib = 1024 * 1024;
  if (limits.memory_bytes && *limits.memory_bytes < mib) {
    throw Error(std::string(call) + ": CallOptions::limits.memory_bytes is " + std::to_string(*limits.memory_bytes) +
                " bytes; a memory limit must be at least 1 MiB (1048576), or unset for the isolator's");
  }
  if (limits.cpu_time && limits.cpu_time->count() <= 0) {
    throw Error(std::string(call) + ": CallOptions::limits.cpu_time is " + std::to_string(limits.cpu_time->count()) +
                " ms; it must be positive, or unset for the isolator's");
  }
  if (limits.max_pids && *limits.max_pids == 0) {
    throw Error(std::string(call) +
                ": CallOptions::limits.max_pids is 0; it must be positive (pihost itself counts), or unset for "
                "the isolator's");
  }
}

void check_sendable(const Invocation& invocation, const std::vector<std::string>& search_path,
                    std::size_t max_frame_bytes) {
  check_call_limits(invocation.options.limits, "the call");
  if (invocation.symbol.empty()) {
    throw Error("the call names no symbol (Invocation::symbol is empty); name the function to call, \"method\" "
                "by default");
  }
  if (invocation.args.size() > wire::max_args) {
    throw Error("a call takes at most " + std::to_string(wire::max_args) + " arguments; this one has " +
                std::to_string(invocation.args.size()));
  }
  // Before it is counted: a size the frame's 32-bit length cannot hold would be counted cut.
  if (invocation.input.size() > max_frame_bytes) {
    throw Error("the call's input is " + std::to_string(invocation.input.size()) +
                " bytes, more than Options::max_frame_bytes (" + std::to_string(max_frame_bytes) + ")");
  }
  // The largest id: the check holds whatever id the call gets.
  const std::size_t body = wire::invoke_frame_bytes(std::numeric_limits<std::uint64_t>::max(),
                                                    invocation.library, invocation.symbol, invocation.args, search_path,
                                                    invocation.input) -
                           wire::frame_header_bytes;
  if (body > max_frame_bytes) {
    throw Error("the call's library path, symbol, arguments, library search path and input make a message of " +
                std::to_string(body) +
                " bytes, more than Options::max_frame_bytes (" + std::to_string(max_frame_bytes) + ")");
  }
}

namespace {

// `path` with its links resolved (as far as it exists), and whether that lies in one of
// `directories`, the strict profile's.
std::pair<std::filesystem::path, bool> resolved_inside(const std::filesystem::path& path,
                                                       const std::vector<std::filesystem::path>& directories) {
  std::error_code error;
  std::filesystem::path resolved = std::filesystem::weakly_canonical(path, error);
  if (error) resolved = path.lexically_normal();
  for (const auto& directory : directories) {
    const auto relative = resolved.lexically_relative(directory);
    if (!relative.empty() && *relative.begin() != "..") return {resolved, true};
  }
  return {resolved, false};
}

// `directory` as sent: absolute, and under the strict profile inside one of `directories`
// (links resolved); else a description of what is wrong, with the fix, in `problem`.
std::string sendable_directory(const std::filesystem::path& directory,
                               const std::vector<std::filesystem::path>& directories, const char* option,
                               std::string& problem) {
  if (!directory.is_absolute()) {
    problem = std::string(option) + " holds '" + directory.string() +
              "', which is not absolute; give absolute directories (pihost runs in a private working directory)";
    return {};
  }
  if (directories.empty()) return directory.lexically_normal().string();
  const auto [resolved, inside] = resolved_inside(directory, directories);
  if (inside) return resolved.string();
  problem = std::string(option) + " holds '" + directory.string() +
            "', outside the directories the strict profile (Options::hardening.strict) shows the child; the "
            "child could not see it. Add it to Options::hardening.plugin_directories";
  return {};
}

}  // namespace

std::vector<std::string> configured_search_path(const Options& options,
                                                const std::vector<std::filesystem::path>& directories) {
  std::vector<std::string> sent;
  for (const auto& directory : options.library_search_path) {
    std::string problem;
    sent.push_back(sendable_directory(directory, directories, "Options::library_search_path", problem));
    if (!problem.empty()) throw OptionsError(problem);
  }
  return sent;
}

std::vector<std::string> call_search_path(const Invocation& invocation, const std::vector<std::string>& configured,
                                          const std::vector<std::filesystem::path>& directories) {
  if (invocation.options.library_search_path.empty()) return configured;
  std::vector<std::string> sent;
  for (const auto& directory : invocation.options.library_search_path) {
    std::string problem;
    sent.push_back(sendable_directory(directory, directories, "CallOptions::library_search_path", problem));
    if (!problem.empty()) throw Error(problem + "; nothing was run");
  }
  sent.insert(sent.end(), configured.begin(), configured.end());
  return sent;
}

std::string loadable_library(std::string library, const std::vector<std::filesystem::path>& directories) {
  namespace fs = std::filesystem;
  const fs::path path(library);
  // A relative path is pihost's to refuse (library_not_found, asking for an absolute one).
  if (directories.empty() || !path.is_absolute()) return library;
  const auto [resolved, inside] = resolved_inside(path, directories);
  if (inside) return resolved.string();
  std::string shown;
  for (const auto& directory : directories) shown += (shown.empty() ? "" : ", ") + directory.string();
  throw Error("the library '" + library + "'" + (resolved != path ? " (" + resolved.string() + ")" : "") +
              " is outside the directories the strict profile (Options::hardening.strict) shows the child (" +
              shown + "); nothing was run. Add its directory to Options::hardening.plugin_directories");
}

namespace {

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

[[noreturn]] void refuse(const std::string& problem) { throw Error("run(): " + problem + "; nothing was run"); }

}  // namespace

wire::Run checked_run(Command command, std::optional<std::chrono::milliseconds> cpu_limit,
                      const std::vector<std::filesystem::path>& directories) {
  namespace fs = std::filesystem;
  if (command.argv.empty()) refuse("Command::argv is empty; argv[0] must name the program");
  if (command.argv.size() > wire::max_args) {
    refuse("Command::argv has " + std::to_string(command.argv.size()) + " strings, more than the " +
           std::to_string(wire::max_args) + " a call may carry");
  }
  if (command.environment.size() > wire::max_args) {
    refuse("Command::environment has " + std::to_string(command.environment.size()) + " variables, more than " +
           std::to_string(wire::max_args));
  }
  try {
    check_call_limits(command.options.limits, "run()");
  } catch (const Error& error) {
    throw Error(std::string(error.what()) + "; nothing was run");
  }
  if (command.options.limits.cpu_time) cpu_limit = command.options.limits.cpu_time;
  std::string& program = command.argv.front();
  if (program.empty()) refuse("Command::argv[0] is empty; it must name the program");
  for (std::size_t i = 0; i < command.argv.size(); ++i) {
    if (has_nul(command.argv[i])) {
      refuse("Command::argv[" + std::to_string(i) + "] holds a NUL byte, which a program's argv cannot carry");
    }
  }
  if (program.find('/') != std::string::npos) {
    if (program.front() != '/') {
      refuse("Command::argv[0] is '" + program +
             "', a relative path; give an absolute path, or a bare name to look up in PATH (the program runs "
             "in the child's working directory, not the host's)");
    }
    if (!directories.empty()) {
      const auto [resolved, inside] = resolved_inside(program, directories);
      if (!inside) {
        refuse("the program '" + program +
               "' is outside the directories the strict profile (Options::hardening.strict) shows the child; "
               "add its directory to Options::hardening.plugin_directories");
      }
    }
  }
  if (!command.working_directory.empty()) {
    if (has_nul(command.working_directory) || command.working_directory.front() != '/') {
      refuse("Command::working_directory is '" + command.working_directory +
             "', not an absolute path; give an absolute one, or leave it empty for the child's private directory");
    }
    if (!directories.empty() && !resolved_inside(command.working_directory, directories).second) {
      refuse("Command::working_directory '" + command.working_directory +
             "' is outside the directories the strict profile (Options::hardening.strict) shows the child");
    }
  }
  std::vector<std::string> environment;
  environment.reserve(command.environment.size());
  for (auto& [name, value] : command.environment) {
    if (name.empty() || name.find('=') != std::string::npos || has_nul(name) || has_nul(value)) {
      refuse("Command::environment has the variable '" + name +
             "': a name must be non-empty without '=' or NUL, and a value without NUL");
    }
    environment.push_back(name + "=" + value);
  }
  std::uint64_t cpu_limit_ms = 0;
  if (cpu_limit) cpu_limit_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(cpu_limit->count(), 1));
  return wire::Run{0,
                   std::move(command.argv),
                   std::move(environment),
                   std::move(command.working_directory),
                   std::move(command.input),
                   cpu_limit_ms};
}

std::shared_ptr<const std::string> run_frame(const wire::Run& run, std::size_t max_frame_bytes) {
  if (run.input.size() > max_frame_bytes) {
    refuse("Command::input is " + std::to_string(run.input.size()) + " bytes, more than Options::max_frame_bytes (" +
           std::to_string(max_frame_bytes) + ")");
  }
  auto frame = std::make_shared<const std::string>(wire::encode_frame(run));
  if (frame->size() - wire::frame_header_bytes > max_frame_bytes) {
    refuse("the command's argv, environment, working directory and input make a message of " +
           std::to_string(frame->size() - wire::frame_header_bytes) + " bytes, more than Options::max_frame_bytes (" +
           std::to_string(max_frame_bytes) + ")");
  }
  return frame;
}

}  // namespace isolator::detail
