// sandbox_decoy_host: a host application for a hostile plugin to attack, so that no attack
// ever aims at the test runner (tests/integration/sandbox_test.cpp starts one per attack).
//
//   sandbox_decoy_host --pihost PATH --plugin PATH --workdir DIR [--trusted-plugin|--sandbox] METHOD
//
// It holds secrets where a plugin should never reach them: a string and a flag in its
// memory, a variable in its environment, an unlinked file open on a descriptor, and a
// second ("victim") isolator whose child holds a value stored with set_data. Then it calls
// METHOD of the attack plugin (tests/plugins/attack.c) in an "attacker" isolator, passing
// the facts the attack needs (its pid, addresses, the descriptor's number, ...), and reports
// what happened as key=value lines on stdout, ending with alive=1. Exit status: 0 after a
// report, 2 for bad usage, 3 when an isolator cannot start (start_error=...); killed by
// SIGTERM when kill_host worked.
//
// --trusted-plugin sets Options::protection.trusted_plugin (no sandbox); --sandbox sets the
// strict profile (Options::hardening.strict, the plugin's directory as its plugin directory).
// Without either the isolators run with Options::protection as it defaults (the sandbox).
#include <isolator/isolator.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// What host_memory is after: read the secret, overwrite the flag.
char memory_secret[64];
volatile std::uint32_t flag = 0x600df1a6;
constexpr std::uint32_t flag_as_the_plugin_writes_it = 0x0bad0bad;

constexpr const char* environment_secret_name = "ISOLATOR_DECOY_SECRET";
constexpr const char* victim_key = "victim-secret";  // tests/plugins/attack.c's VICTIM_KEY

std::string random_hex(std::size_t bytes) {
  std::ifstream random("/dev/urandom", std::ios::binary);
  std::string hex;
  for (std::size_t i = 0; i < bytes; ++i) {
    char digits[3];
    std::snprintf(digits, sizeof digits, "%02x", static_cast<unsigned char>(random.get()));
    hex += digits;
  }
  return hex;
}

std::string hex_address(const volatile void* address) {
  std::ostringstream out;
  out << std::hex << reinterpret_cast<std::uintptr_t>(address);
  return out.str();
}

struct Arguments {
  std::string method;
  std::string pihost;
  std::string plugin;
  std::string workdir;
  bool trusted = false;
  bool strict = false;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr
      << "sandbox_decoy_host: " << problem
      << "\nusage: sandbox_decoy_host --pihost PATH --plugin PATH --workdir DIR [--trusted-plugin|--sandbox] METHOD\n";
  std::exit(2);
}

Arguments parse(int argc, char** argv) {
  Arguments a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--pihost") a.pihost = value();
    else if (arg == "--plugin") a.plugin = value();
    else if (arg == "--workdir") a.workdir = value();
    else if (arg == "--trusted-plugin") a.trusted = true;
    else if (arg == "--sandbox") a.strict = true;
    else if (!arg.empty() && arg[0] != '-' && a.method.empty()) a.method = arg;
    else usage("unexpected argument " + arg);
  }
  if (a.method.empty() || a.pihost.empty() || a.plugin.empty() || a.workdir.empty())
    usage("missing argument");
  return a;
}

// A TCP listener on 127.0.0.1, on a port the kernel picks: join_host_netns connects to it.
class LoopbackListener {
 public:
  LoopbackListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 && ::listen(fd_, 8) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
  }
  ~LoopbackListener() { ::close(fd_); }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// The cgroup directories (seen from here) of process `pid` that an isolator made: those
// whose path has an "isolator-" component. cgroup v1 hierarchies are taken to be mounted at
// /sys/fs/cgroup/<controllers>, v2 at /sys/fs/cgroup/unified or /sys/fs/cgroup.
std::vector<std::filesystem::path> isolator_cgroups_of(int pid) {
  std::vector<std::filesystem::path> dirs;
  std::ifstream cgroups("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(cgroups, line)) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (path.find("/isolator-") == std::string::npos) continue;
    if (!controllers.empty()) {
      dirs.emplace_back("/sys/fs/cgroup/" + controllers + path);
    } else if (std::filesystem::exists("/sys/fs/cgroup/unified" + path)) {
      dirs.emplace_back("/sys/fs/cgroup/unified" + path);
    } else {
      dirs.emplace_back("/sys/fs/cgroup" + path);
    }
  }
  return dirs;
}

// The limit files of those directories and what they hold now.
std::map<std::string, std::string> limits_of(const std::vector<std::filesystem::path>& dirs) {
  std::map<std::string, std::string> limits;
  for (const auto& dir : dirs) {
    for (const char* name : {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "pids.max",
                             "cpu.cfs_quota_us", "memory.max", "memory.swap.max", "cpu.max"}) {
      std::ifstream file(dir / name);
      std::string value;
      if (file && std::getline(file, value)) limits[(dir / name).string()] = value;
    }
  }
  return limits;
}

bool output_contains(const isolator::CallResult& r, const std::string& needle) {
  for (const auto& line : r.output) {
    if (line.text.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string read_whole(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  // The environment secret must be in the environment the process started with (what
  // /proc/PID/environ shows), so it is set and the decoy starts again.
  if (std::getenv(environment_secret_name) == nullptr) {
    const std::string secret = "decoy-environ-secret-" + random_hex(16);
    ::setenv(environment_secret_name, secret.c_str(), 1);
    // By its own path, not /proc/self/exe: the process name (what the attack plugin checks
    // before it attacks) comes from the path exec'ed.
    std::error_code error;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    ::execv(self.c_str(), argv);
    std::perror(("sandbox_decoy_host: execv " + self.string()).c_str());
    return 2;
  }
  const Arguments args = parse(argc, argv);
  const std::string environment_secret = std::getenv(environment_secret_name);

  const std::string memory_text = "decoy-memory-secret-" + random_hex(16);
  std::snprintf(memory_secret, sizeof memory_secret, "%s", memory_text.c_str());
  const std::uint32_t flag_before = flag;

  // An open file nobody can reach by its name: only through this process's descriptor.
  const std::string file_secret = "decoy-file-secret-" + random_hex(16);
  const auto file_path = std::filesystem::path(args.workdir) / "decoy-open-file";
  const int file_fd = ::open(file_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file_fd < 0 ||
      ::write(file_fd, file_secret.data(), file_secret.size()) != static_cast<ssize_t>(file_secret.size())) {
    std::perror("sandbox_decoy_host: the open file");
    return 2;
  }
  ::unlink(file_path.c_str());

  const std::string victim_secret = "decoy-victim-secret-" + random_hex(16);
  const auto leaked_path = std::filesystem::path(args.workdir) / "leaked";
  LoopbackListener listener;

  isolator::Options options;
  options.pihost_path = args.pihost;
  options.call_timeout = 30s;
  // Limits, so that the child has cgroups (where this machine gives them) for the cgroup
  // attacks, and room for the ordinary work (64 MiB).
  options.limits.memory_bytes = std::uint64_t{512} << 20;
  options.limits.max_pids = 1024;
  options.limits.cpu_percent = 100;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // An ASan or TSan pihost reserves terabytes of address space for its shadow: the rlimit
  // backend's memory limit (RLIMIT_AS) would kill it at start. (The cgroup backends count
  // pages.)
  if (isolator::probe(options).chosen == isolator::Containment::rlimit) options.limits.memory_bytes.reset();
#endif
  options.protection.trusted_plugin = args.trusted;
  if (args.strict) {
    options.hardening.strict = true;
    options.hardening.plugin_directories = {std::filesystem::path(args.plugin).parent_path()};
  }

  const int host_pid = ::getpid();
  const std::string pid_text = std::to_string(host_pid);
  std::vector<std::string> call_args;
  isolator::Options attacker_options = options;
  if (args.method == "kill_host") {
    call_args = {pid_text};
  } else if (args.method == "host_memory") {
    char hex_value[16];
    std::snprintf(hex_value, sizeof hex_value, "%x", flag_as_the_plugin_writes_it);
    call_args = {pid_text, hex_address(memory_secret), std::to_string(std::strlen(memory_secret)),
                 hex_address(&flag), hex_value};
  } else if (args.method == "host_environ") {
    call_args = {pid_text, environment_secret_name};
  } else if (args.method == "host_fd") {
    call_args = {pid_text, std::to_string(file_fd)};
  } else if (args.method == "steal_channel") {
    call_args = {pid_text, args.workdir};
  } else if (args.method == "join_host_netns") {
    call_args = {pid_text, std::to_string(listener.port())};
    attacker_options.hardening.no_network = true;  // what the attack undoes
  } else if (args.method == "replace_pihost") {
    call_args = {args.pihost};
  } else if (args.method != "escape_cgroup" && args.method != "raise_limits" &&
             args.method != "create_in_etc" && args.method != "create_in_root" &&
             args.method != "touch_64mib" && args.method != "write_files" && args.method != "run_child" &&
             args.method != "read_beside") {
    usage("unknown method " + args.method);
  }

  std::unique_ptr<isolator::ProcessIsolator> victim;
  std::unique_ptr<isolator::ProcessIsolator> attacker;
  try {
    victim = isolator::ProcessIsolator::create(options);
    victim->set_data(victim_key, victim_secret);
    if (victim->get_data(victim_key) != victim_secret) {  // the child holds it now
      std::cout << "start_error=the victim's child does not hold its secret" << std::endl;
      return 3;
    }
    attacker = isolator::ProcessIsolator::create(attacker_options);
  } catch (const isolator::Error& e) {
    std::cout << "start_error=" << e.what() << std::endl;
    return 3;
  }
  const int victim_pid_before = victim->pid();
  const int attacker_pid = attacker->pid();
  const auto attacker_cgroups = isolator_cgroups_of(attacker_pid);
  const auto limits_before = limits_of(attacker_cgroups);

  const isolator::CallResult r = attacker->invoke(args.plugin, args.method, call_args);

  // What the attack did, seen from here.
  bool leaked = false;
  if (args.method == "steal_channel") {
    // The forged call runs in the victim's child after the attacker's call returned.
    const auto until = std::chrono::steady_clock::now() + (r.ok() && *r.code == 0 ? 5s : 500ms);
    while (!leaked && std::chrono::steady_clock::now() < until) {
      leaked = std::filesystem::exists(leaked_path) && read_whole(leaked_path) == victim_secret;
      if (!leaked) std::this_thread::sleep_for(20ms);
    }
  }
  const auto limits_after = limits_of(attacker_cgroups);
  int limits_raised = 0;
  if (!r.ok() && r.failure->kind == isolator::FailureKind::limits_changed) {
    // The host saw them changed and is replacing the child, whose cgroups may be gone
    // already: count what the failure names ("FILE was set to 'A' and now reads 'B'").
    for (std::size_t at = r.failure->message.find("was set to"); at != std::string::npos;
         at = r.failure->message.find("was set to", at + 1)) {
      ++limits_raised;
    }
  } else {
    for (const auto& [file, value] : limits_before) {
      const auto after = limits_after.find(file);
      if (after != limits_after.end() && after->second != value) ++limits_raised;
    }
  }
  const std::size_t cgroups_after = isolator_cgroups_of(attacker_pid).size();

  std::ostringstream report;
  report << "method=" << args.method << "\n";
  report << "mode=" << (args.trusted ? "trusted" : args.strict ? "strict" : "default") << "\n";
  report << "host_pid=" << host_pid << "\n";
  report << "attacker_pid=" << attacker_pid << "\n";
  report << "containment=" << attacker->containment() << "\n";
  if (r.ok()) {
    report << "result=code\ncode=" << *r.code << "\n";
  } else {
    report << "result=failure\nfailure=" << isolator::to_string(r.failure->kind) << ": " << r.failure->message
           << "\n";
  }
  for (const auto& line : r.output) {
    report << (line.stream == isolator::OutputStream::out ? "plugin_stdout=" : "plugin_stderr=") << line.text
           << "\n";
  }
  report << "flag_changed=" << (flag != flag_before) << "\n";
  report << "memory_secret_seen=" << output_contains(r, memory_text) << "\n";
  report << "environ_secret_seen=" << output_contains(r, environment_secret) << "\n";
  report << "file_secret_seen=" << output_contains(r, file_secret) << "\n";
  report << "victim_leaked=" << leaked << "\n";
  report << "victim_pid_before=" << victim_pid_before << "\n";
  report << "attacker_cgroups_before=" << attacker_cgroups.size() << "\n";
  report << "attacker_cgroups_after=" << cgroups_after << "\n";
  report << "limits_raised=" << limits_raised << "\n";

  attacker->shutdown();
  victim->shutdown();
  ::close(file_fd);
  std::error_code ignored;
  std::filesystem::remove(leaked_path, ignored);
  std::filesystem::remove(std::filesystem::path(args.workdir) / "stolen-channel.so", ignored);

  report << "alive=1\n";
  std::cout << report.str() << std::flush;
  return 0;
}
