// samplehost: the testbed CLI. Runs a plugin method, or a program, in an isolator N times and
// reports every event and result, for people or (--json) for scripts.
//
//   samplehost [options] [-- arguments passed to the method]
//   samplehost [options] --run [--stdin FILE] -- PROGRAM [ARGUMENTS]
//   samplehost [options] --file SCRIPT [--stdin FILE] [-- ARGUMENTS]
//
// Exit status: 0 when every call returned from the method or the program ran to its exit
// (whatever its code), 1 when any call failed or no child could be started, 2 for bad usage.
#include "duration.hpp"
#include "jobs_run.hpp"
#include "limits_parse.hpp"
#include "reporter.hpp"

#include <isolator/isolator.hpp>

#include <CLI/CLI.hpp>
#include <boost/asio/use_future.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr int exit_call_failed = 1;
constexpr int exit_usage = 2;

struct Settings {
  std::string library;
  std::string method = "method";
  int repeat = 1;
  std::optional<std::chrono::milliseconds> timeout;
  bool json = false;
  std::string log_level = "warn";
  std::vector<std::string> args;
  std::string input;  // --input or --input-file: the call's input bytes
  bool run_program = false;  // --run: `args` is a program's argv
  std::string file;          // --file: a script, run by the interpreter its extension names
  std::string stdin_bytes;   // --stdin: the program's stdin
  isolator::Limits limits;
  isolator::CallLimits call_limits;  // --call-max-memory, --call-cpu-time, --call-max-pids
  std::optional<std::size_t> max_output;
  std::optional<std::size_t> max_result;
  isolator::Containment containment = isolator::Containment::automatic;
  bool require_limits = false;
  bool no_network = false;
  bool deny_syscalls = false;
  bool trusted_plugin = false;
  bool no_crash_reports = false;
  bool spare_child = false;
  bool require_protection = false;
  bool strict = false;
  std::vector<std::string> plugin_directories;
  std::vector<std::string> allow_syscalls;
  bool check = false;
  std::optional<isolator::RestartPolicy> restart;
  std::optional<unsigned> max_restarts;
  std::optional<std::chrono::milliseconds> restart_window;
  unsigned retries = 0;
  std::size_t pool = 0;
  std::optional<std::size_t> recycle_after;
  bool jobs = false;                   // --jobs: every call a job (isolator/jobs.hpp)
  std::vector<isolator::JobId> kill_jobs;  // --kill-job
};

// The samplelib built or installed with this samplehost: ../lib/libsamplelib.so.
std::string bundled_samplelib() {
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "libsamplelib.so";
  return (self.parent_path().parent_path() / "lib" / "libsamplelib.so").string();
}

// The bytes of `path`, for --input-file and --stdin (`option`). Throws std::invalid_argument
// naming the option, the file and why.
std::string read_input_file(const std::string& path, const std::string& option = "--input-file") {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw std::invalid_argument(option + ": cannot read '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream bytes;
  bytes << file.rdbuf();
  if (file.bad()) throw std::invalid_argument(option + ": reading '" + path + "' failed");
  return std::move(bytes).str();
}

// Whether `name` is an executable file in a directory of this process's PATH (the child's
// PATH is the host's: Options::inherit_environment).
bool in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream directories(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string directory;
  while (std::getline(directories, directory, ':')) {
    if (!directory.empty() && ::access((directory + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// The interpreter --file runs `script` with, from its extension; throws std::invalid_argument
// for an extension it does not know, or an interpreter not installed here.
std::string interpreter_for(const std::string& script) {
  const std::string extension = std::filesystem::path(script).extension().string();
  std::string interpreter;
  if (extension == ".py") interpreter = "python3";
  else if (extension == ".sh") interpreter = "sh";
  else if (extension == ".js") interpreter = "node";
  else {
    throw std::invalid_argument("--file '" + script + "': samplehost runs .py (python3), .sh (sh) and .js (node) "
                                "files; for anything else use --run -- INTERPRETER " + script);
  }
  if (!in_path(interpreter)) {
    throw std::invalid_argument("--file '" + script + "' needs " + interpreter +
                                ", which is in no directory of PATH here; install it (" +
                                (interpreter == "node" ? "apt-get install nodejs" : "apt-get install " + interpreter) +
                                "), or run the file with --run");
  }
  return interpreter;
}

// What every call samplehost makes asks for itself.
isolator::CallOptions call_options(const Settings& settings) {
  isolator::CallOptions options;
  options.retries = settings.retries;
  options.limits = settings.call_limits;
  return options;
}

// The program --run or --file asks for, or none for a method's call.
std::optional<isolator::Command> program_of(const Settings& settings) {
  if (!settings.run_program && settings.file.empty()) return std::nullopt;
  isolator::Command command;
  if (!settings.file.empty()) {
    command.argv = {interpreter_for(settings.file), std::filesystem::absolute(settings.file).string()};
  }
  command.argv.insert(command.argv.end(), settings.args.begin(), settings.args.end());
  if (command.argv.empty()) throw std::invalid_argument("--run: give the program after --: --run -- sort -r");
  command.input = settings.stdin_bytes;
  command.options = call_options(settings);
  return command;
}

void add_options(CLI::App& app, Settings& s) {
  app.add_option("-l,--library", s.library, "plugin .so (default: the bundled samplelib)");
  app.add_option("-m,--method", s.method, "exported symbol (default: method)");
  app.add_option("-n,--repeat", s.repeat, "invoke N times on the same isolator (default 1)")
      ->check(CLI::PositiveNumber);
  app.add_option_function<std::string>(
         "--timeout", [&s](const std::string& text) { s.timeout = samplehost::parse_duration(text); },
         "per-call wall-clock limit: 250ms, 5s, 1m")
      ->type_name("DUR");
  app.add_flag("--json", s.json, "one JSON object per line on stdout for every event and result");
  app.add_option("--log-level", s.log_level, "trace|debug|info|warn|error|off (default: warn)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option_function<std::string>(
         "--max-memory", [&s](const std::string& t) { s.limits.memory_bytes = samplehost::parse_bytes(t); },
         "memory limit: 64M, 128MB, 1GiB (MB and GB read as MiB and GiB, as Docker reads them; cgroups: the "
         "group's memory; rlimit: address space)")
      ->type_name("BYTES");
  app.add_option_function<double>(
         "--max-cpu", [&s](double percent) { s.limits.cpu_percent = percent; },
         "CPU share in percent of one CPU (cgroups only)")
      ->type_name("PERCENT")
      ->check(CLI::PositiveNumber);
  app.add_option_function<std::uint32_t>(
         "--max-pids", [&s](std::uint32_t n) { s.limits.max_pids = n; }, "most processes and threads")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  app.add_option_function<std::string>(
         "--affinity", [&s](const std::string& t) { s.limits.cpu_affinity = samplehost::parse_cpu_list(t); },
         "CPUs the child may run on: 0,2-3")
      ->type_name("CPULIST");
  app.add_option_function<std::string>(
         "--cpu-time",
         [&s](const std::string& t) { s.limits.cpu_time_per_call = samplehost::parse_duration(t); },
         "CPU time one call may use: 200ms, 2s")
      ->type_name("DUR");
  app.add_option_function<std::string>(
         "--call-max-memory",
         [&s](const std::string& t) { s.call_limits.memory_bytes = samplehost::parse_bytes(t); },
         "memory limit of each call, over --max-memory (tighter or looser, within what the backend enforces; "
         "every call of --repeat gets it, and its result shows the limits that applied): 64M, 128MB")
      ->type_name("BYTES");
  app.add_option_function<std::string>(
         "--call-cpu-time",
         [&s](const std::string& t) { s.call_limits.cpu_time = samplehost::parse_duration(t); },
         "CPU time of each call, over --cpu-time: 200ms, 2s")
      ->type_name("DUR");
  app.add_option_function<std::uint32_t>(
         "--call-max-pids", [&s](std::uint32_t n) { s.call_limits.max_pids = n; },
         "process count of each call, over --max-pids")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  app.add_option_function<std::string>(
         "--max-output", [&s](const std::string& t) { s.max_output = samplehost::parse_bytes(t); },
         "output kept in each call's result: 64K, 64KB")
      ->type_name("BYTES");
  app.add_option_function<std::string>(
         "--max-result-bytes", [&s](const std::string& t) { s.max_result = samplehost::parse_bytes(t); },
         "result bytes a call may return (isolator_result_set): 4M (default 1M)")
      ->type_name("BYTES");
  app.add_option_function<std::string>(
         "--containment",
         [&s](const std::string& t) {
           if (t == "auto") s.containment = isolator::Containment::automatic;
           else if (t == "cgroup-v2") s.containment = isolator::Containment::cgroup_v2;
           else if (t == "cgroup-v1") s.containment = isolator::Containment::cgroup_v1;
           else s.containment = isolator::Containment::rlimit;
         },
         "auto|cgroup-v2|cgroup-v1|rlimit (default: auto)")
      ->check(CLI::IsMember({"auto", "cgroup-v2", "cgroup-v1", "rlimit"}));
  app.add_flag("--require-limits", s.require_limits, "fail when a requested limit cannot be enforced");
  app.add_flag("--no-network", s.no_network, "give the child no network at all (its own network namespace)");
  app.add_flag("--deny-syscalls", s.deny_syscalls,
               "make ptrace, mount, bpf, keyctl, perf_event_open and other calls fail (seccomp)");
  app.add_flag("--trusted-plugin", s.trusted_plugin,
               "run the plugin without the default sandbox (it can then reach the host: only for plugins you trust)");
  app.add_flag("--no-crash-reports", s.no_crash_reports,
               "no stack for a crashing plugin (Options::crash_reports off): pihost installs no crash handler");
  app.add_flag("--spare-child", s.spare_child,
               "keep a second pihost started and idle, so that replacing a dead child is a swap "
               "(Options::supervision.spare_child)");
  app.add_flag("--require-protection", s.require_protection,
               "fail the start when this machine cannot provide a measure of the default sandbox");
  app.add_flag("--sandbox", s.strict,
               "the strict profile: only the system's files, the plugin's directory and --plugin-dir shown, "
               "read-only; no network; a seccomp allow-list (implies --no-network, replaces --deny-syscalls)");
  app.add_option("--plugin-dir", s.plugin_directories,
                 "with --sandbox: another directory plugins may be loaded from (the library's own is shown)")
      ->type_name("DIR");
  app.add_option("--allow-syscall", s.allow_syscalls,
                 "with --sandbox: a system call to allow besides the profile's list, by its name")
      ->type_name("NAME");
  app.add_option_function<std::string>(
         "--restart",
         [&s](const std::string& t) {
           s.restart = t == "never"        ? isolator::RestartPolicy::never
                       : t == "on-failure" ? isolator::RestartPolicy::on_failure
                                           : isolator::RestartPolicy::always;
         },
         "never|on-failure|always; with on-failure or always, --repeat goes on after a failed call")
      ->check(CLI::IsMember({"never", "on-failure", "always"}));
  app.add_option_function<unsigned>(
         "--max-restart-attempts", [&s](unsigned n) { s.max_restarts = n; },
         "restarts allowed within the restart window (default 5)")
      ->type_name("N");
  app.add_option_function<std::string>(
         "--restart-window", [&s](const std::string& t) { s.restart_window = samplehost::parse_duration(t); },
         "the window restarts are counted in (default 30s)")
      ->type_name("DUR");
  app.add_option("--retry", s.retries,
                 "run a call again on a new child when its child died under it, N times")
      ->type_name("N");
  auto* pool = app.add_option("--pool", s.pool,
                              "run the calls on a pool of N warm children (all at once; output "
                              "lines then say \"call\":null)")
                   ->type_name("N")
                   ->check(CLI::PositiveNumber);
  app.add_option_function<std::size_t>(
         "--recycle-after", [&s](std::size_t n) { s.recycle_after = n; },
         "with --pool: replace a child after N calls")
      ->type_name("N")
      ->check(CLI::PositiveNumber)
      ->needs(pool);
  auto* jobs = app.add_flag("--jobs", s.jobs,
                            "start every call of --repeat as a job (on the isolator, or the --pool), list "
                            "the jobs, then wait for each and report its result under its job id");
  app.add_option("--kill-job", s.kill_jobs,
                 "with --jobs: kill job ID (1..N) once every job is started: a queued one is dropped, a "
                 "running one's child is killed and replaced (repeatable)")
      ->type_name("ID")
      ->needs(jobs);
  app.add_flag("--check", s.check, "print what each backend can enforce here, and exit");
  auto* input = app.add_option("--input", s.input,
                               "bytes the method reads with isolator_input(), given as text")
                    ->type_name("TEXT");
  app.add_option_function<std::string>(
         "--input-file", [&s](const std::string& path) { s.input = read_input_file(path); },
         "the same, the bytes of a file (any bytes)")
      ->type_name("PATH")
      ->excludes(input);
  auto* run = app.add_flag("--run", s.run_program,
                           "run the arguments after -- as a program (an absolute path, or a name looked up "
                           "in PATH) in the isolator, instead of a plugin's method");
  auto* file = app.add_option("--file", s.file,
                              "run a script with the interpreter its extension names: .py python3, .sh sh, "
                              ".js node (when installed); the arguments after -- are the script's")
                   ->type_name("SCRIPT")
                   ->excludes(run);
  app.add_option_function<std::string>(
         "--stdin",
         [&s](const std::string& path) { s.stdin_bytes = read_input_file(path, "--stdin"); },
         "with --run or --file: the program's stdin, the bytes of a file")
      ->type_name("FILE");
  for (auto* method_only : {input, app.get_option("--input-file"), app.get_option("--library"),
                            app.get_option("--method")}) {
    method_only->excludes(run)->excludes(file);
  }
  app.add_option("args", s.args, "arguments passed to the method, or the program and its arguments (after --)");
}

// Every job of the run is kept until it is waited for.
isolator::JobsOptions jobs_options(const Settings& settings) {
  isolator::JobsOptions options;
  options.max_finished = std::max(options.max_finished, static_cast<std::size_t>(settings.repeat));
  return options;
}

// --jobs on `jobs`: false when a job's call failed or a call could not be made (reported).
bool jobs_or_error(const Settings& settings, isolator::Jobs& jobs, const std::string& library,
                   const std::optional<isolator::Command>& program, samplehost::Reporter& reporter) {
  const auto spawn = [&](isolator::Jobs& table) {
    if (program) return table.spawn(*program);
    isolator::Invocation invocation{library, settings.method, settings.args, {}, settings.input};
    invocation.options = call_options(settings);
    return table.spawn(std::move(invocation));
  };
  try {
    return samplehost::run_jobs(jobs, settings.repeat, spawn, settings.kill_jobs, reporter);
  } catch (const isolator::Error& e) {  // a call that cannot be made: nothing more is started
    reporter.error(e.what());
    return false;
  }
}

// --pool: every call submitted at once, run in parallel on the pool's children; results are
// reported in call order.
int run_pool(const Settings& settings, const isolator::Options& options, const std::string& library,
             const std::optional<isolator::Command>& program, samplehost::Reporter& reporter) {
  isolator::PoolOptions pool_options;
  pool_options.isolator = options;
  pool_options.size = settings.pool;
  pool_options.max_calls_per_child = settings.recycle_after;
  // Every call is submitted at once: the queue must hold them all.
  pool_options.max_queue = std::max(pool_options.max_queue, static_cast<std::size_t>(settings.repeat));
  std::unique_ptr<isolator::IsolatorPool> pool;
  try {
    pool = isolator::IsolatorPool::create(pool_options);
  } catch (const isolator::Error& e) {
    reporter.error(e.what());
    return exit_call_failed;
  }
  if (settings.jobs) {
    bool all_returned = false;
    {
      isolator::Jobs jobs(*pool, jobs_options(settings));  // gone before the shutdown
      all_returned = jobs_or_error(settings, jobs, library, program, reporter);
    }
    pool->shutdown();
    return all_returned ? 0 : exit_call_failed;
  }
  std::vector<std::future<isolator::CallResult>> calls;
  for (int call = 1; call <= settings.repeat; ++call) {
    isolator::Invocation invocation{library, settings.method, settings.args, {}, settings.input};
    invocation.options = call_options(settings);
    try {
      calls.push_back(program ? pool->async_run(*program, boost::asio::use_future)
                              : pool->async_invoke(std::move(invocation), boost::asio::use_future));
    } catch (const isolator::Error& e) {  // a call that cannot be made: nothing ran
      reporter.error(e.what());
      pool->shutdown();
      return exit_call_failed;
    }
  }
  bool all_returned = true;
  for (int call = 1; call <= settings.repeat; ++call) {
    const auto result = calls[static_cast<std::size_t>(call - 1)].get();
    reporter.result(call, result);
    all_returned = all_returned && result.ok();
  }
  pool->shutdown();
  return all_returned ? 0 : exit_call_failed;
}

int run(const Settings& settings) {
  isolator::logger()->set_level(spdlog::level::from_str(settings.log_level));
  samplehost::Reporter reporter(settings.json);

  isolator::Options options;
  options.call_timeout = settings.timeout;
  options.limits = settings.limits;
  options.containment = settings.containment;
  options.require_limits = settings.require_limits;
  options.hardening.no_network = settings.no_network;
  options.hardening.deny_syscalls = settings.deny_syscalls;
  options.protection.trusted_plugin = settings.trusted_plugin;
  options.protection.require = settings.require_protection;
  const std::string library = settings.library.empty() ? bundled_samplelib()
                                                       : std::filesystem::absolute(settings.library).string();
  if (settings.strict) {
    options.hardening.strict = true;
    options.hardening.plugin_directories.emplace_back(std::filesystem::path(library).parent_path());
    for (const auto& directory : settings.plugin_directories) options.hardening.plugin_directories.emplace_back(directory);
    options.hardening.allow_syscalls = settings.allow_syscalls;
  } else if (!settings.plugin_directories.empty() || !settings.allow_syscalls.empty()) {
    std::cerr << "samplehost: --plugin-dir and --allow-syscall need --sandbox\n";
    return exit_usage;
  }
  if (settings.max_output) options.max_output_bytes_per_call = *settings.max_output;
  if (settings.max_result) options.max_result_bytes = *settings.max_result;
  options.crash_reports = !settings.no_crash_reports;
  options.supervision.spare_child = settings.spare_child;
  if (settings.restart) options.supervision.restart = *settings.restart;
  if (settings.max_restarts) options.supervision.max_restarts = *settings.max_restarts;
  if (settings.restart_window) options.supervision.restart_window = *settings.restart_window;
  if (settings.check) {
    std::cout << isolator::probe(options).to_text();
    return 0;
  }
  options.on_event = [&reporter](const isolator::Event& e) { reporter.event(e); };
  // The one service samplehost offers a plugin (isolator_call_host("log", ...)).
  options.services["log"].function = [&reporter](std::string_view text) {
    reporter.plugin_log(text);
    return std::string();
  };
  options.on_output = [&reporter](isolator::OutputStream stream, std::string_view line) {
    reporter.output(stream, line);
  };

  std::optional<isolator::Command> program;
  try {
    program = program_of(settings);
  } catch (const std::invalid_argument& e) {
    std::cerr << "samplehost: " << e.what() << "\n";
    return exit_usage;
  }
  if (program) reporter.program(program->argv, settings.file.empty() ? "" : program->argv.front());
  if (!settings.stdin_bytes.empty() && !program) {
    std::cerr << "samplehost: --stdin feeds a program: give --run or --file (a method reads --input)\n";
    return exit_usage;
  }

  if (settings.pool > 0) return run_pool(settings, options, library, program, reporter);

  std::unique_ptr<isolator::ProcessIsolator> isolator;
  try {
    isolator = isolator::ProcessIsolator::create(options);
  } catch (const isolator::Error& e) {
    reporter.error(e.what());
    return exit_call_failed;
  }

  if (settings.jobs) {
    bool all_returned = false;
    {
      isolator::Jobs jobs(*isolator, jobs_options(settings));  // gone before the shutdown
      all_returned = jobs_or_error(settings, jobs, library, program, reporter);
    }
    isolator->shutdown();
    return all_returned ? 0 : exit_call_failed;
  }

  // Without --restart on-failure|always, the first failed call ends the run.
  const bool go_on = settings.restart && *settings.restart != isolator::RestartPolicy::never;
  bool all_returned = true;
  for (int call = 1; call <= settings.repeat; ++call) {
    reporter.begin_call(call);
    isolator::Invocation invocation{library, settings.method, settings.args, {}, settings.input};
    invocation.options = call_options(settings);
    isolator::CallResult result;
    try {
      result = program ? isolator->run(*program) : isolator->invoke(invocation);
    } catch (const isolator::Error& e) {  // a call that cannot be made: nothing ran
      reporter.error(e.what());
      isolator->shutdown();
      return exit_call_failed;
    }
    reporter.result(call, result);
    if (!result.ok()) {
      all_returned = false;
      if (!go_on) break;
    }
  }
  isolator->shutdown();
  return all_returned ? 0 : exit_call_failed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"samplehost: run a plugin method, or a program, in an isolated pihost child"};
  Settings settings;
  add_options(app, settings);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : exit_usage;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "samplehost: %s\n", e.what());
    return exit_usage;
  }
  return run(settings);
}
