// pihost: the child process that runs plugin methods for one ProcessIsolator.
//
//   pihost --channel PATH (--host-pid PID | --host-outside) [--max-frame-bytes N] [--core-dumps]
//          [--library-links DIR] [--max-result-bytes N] [--no-crash-reports] [--crash-report-ms N]
//   pihost --pid-namespace-init
//   pihost --report-crash ...     (only pihost's own crash handler starts this one)
//   pihost --keep-program ...     (only pihost starts this one, for a program a Run asked for)
//
// Started by the host library, never by hand. It arms its death signal, connects to the
// host's socket at PATH, says Hello, then serves Invoke/SetData/GetData until the host
// closes the channel, and exits. The flags and the exit codes are the host's and pihost's
// contract: isolator/wire/pihost_contract.hpp.
#include "src/channel.hpp"
#include "src/crash_capture.hpp"
#include "src/crash_reporter.hpp"
#include "src/dependency_links.hpp"
#include "src/host_watch.hpp"
#include "src/pid_namespace_init.hpp"
#include "src/program_keeper.hpp"
#include "src/server.hpp"
#include "src/usage_meter.hpp"

#include <isolator/wire/codec.hpp>
#include <isolator/wire/pihost_contract.hpp>

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

namespace wire = isolator::wire;

struct Arguments {
  std::string channel;
  pid_t host_pid = 0;  // 0 with --host-outside: the parent has no pid in pihost's namespace
  bool host_outside = false;
  std::size_t max_frame_bytes = wire::default_max_frame_bytes;
  bool core_dumps = false;  // --core-dumps: stay dumpable (Options::allow_core_dumps)
  std::string library_links;  // --library-links: where a plugin's libraries are linked for the loader
  std::size_t max_result_bytes = wire::default_max_result_bytes;  // --max-result-bytes
  bool crash_reports = true;  // --no-crash-reports turns them off (Options::crash_reports)
  unsigned crash_report_ms = wire::default_crash_report_ms;  // --crash-report-ms
};

[[noreturn]] void usage_error(const std::string& message) {
  const std::string usage = "pihost " + std::string(wire::flag_channel) + " PATH " +
                            std::string(wire::flag_host_pid) + " PID [" +
                            std::string(wire::flag_max_frame_bytes) + " N] [" +
                            std::string(wire::flag_core_dumps) + "] [" +
                            std::string(wire::flag_library_links) + " DIR] [" +
                            std::string(wire::flag_max_result_bytes) + " N] [" +
                            std::string(wire::flag_no_crash_reports) + "] [" +
                            std::string(wire::flag_crash_report_ms) + " N]";
  std::fprintf(stderr,
               "pihost: %s\nusage: %s\n"
               "pihost is started by the isolator library; it is not meant to be run by hand.\n",
               message.c_str(), usage.c_str());
  std::exit(wire::exit_usage);
}

unsigned long long parse_number(const char* text, std::string_view flag) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value == 0) {
    usage_error("bad value for " + std::string(flag) + ": '" + text + "'");
  }
  return value;
}

Arguments parse(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == wire::flag_core_dumps) {
      args.core_dumps = true;
      continue;
    }
    if (flag == wire::flag_host_outside) {
      args.host_outside = true;
      continue;
    }
    if (flag == wire::flag_no_crash_reports) {
      args.crash_reports = false;
      continue;
    }
    if (i + 1 >= argc) usage_error("missing value for " + flag);
    const char* value = argv[++i];
    if (flag == wire::flag_channel) {
      args.channel = value;
    } else if (flag == wire::flag_host_pid) {
      args.host_pid = static_cast<pid_t>(parse_number(value, wire::flag_host_pid));
    } else if (flag == wire::flag_library_links) {
      args.library_links = value;
    } else if (flag == wire::flag_max_frame_bytes) {
      args.max_frame_bytes = parse_number(value, wire::flag_max_frame_bytes);
    } else if (flag == wire::flag_max_result_bytes) {
      args.max_result_bytes = parse_number(value, wire::flag_max_result_bytes);
    } else if (flag == wire::flag_crash_report_ms) {
      const auto ms = parse_number(value, wire::flag_crash_report_ms);
      if (ms > 60'000) usage_error("bad value for " + flag + ": at most 60000");
      args.crash_report_ms = static_cast<unsigned>(ms);
    } else {
      usage_error("unknown option " + flag);
    }
  }
  if (args.channel.empty() || (args.host_pid == 0) == !args.host_outside) {
    usage_error(std::string(wire::flag_channel) + " and one of " + std::string(wire::flag_host_pid) + " or " +
                std::string(wire::flag_host_outside) + " are required");
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && argv[1] == wire::flag_pid_namespace_init) pihost::be_pid_namespace_init();
  if (argc >= 2 && argv[1] == wire::flag_report_crash) pihost::report_crash(argc, argv);
  if (argc >= 2 && argv[1] == wire::flag_keep_program) pihost::keep_program(argc, argv);
  const Arguments args = parse(argc, argv);
  // Before any thread exists: the environment as the host's options set it.
  pihost::restore_environment(args.library_links);
  pihost::UsageMeter::prepare();  // while still dumpable
  // exec made pihost dumpable again: unless core dumps were asked for, no core and no
  // ptrace by other processes of the user.
  if (!args.core_dumps) ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  pihost::guard_against_orphans(args.host_pid);
  pihost::start_host_watch(args.host_pid);
  // Plugin output reaches the host line by line, as it is written.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  try {
    pihost::Channel channel(args.channel, args.max_frame_bytes);
    // With core dumps on, the core of the crashed process is what was asked for: the reporter
    // would replace it (the host passes --no-crash-reports then as well).
    if (args.crash_reports && !args.core_dumps) {
      pihost::crash::arm({channel.fd(), args.max_frame_bytes, args.crash_report_ms});
    }
    channel.send(wire::Hello{wire::protocol_version, ::getpid()});
    // Never destroyed: its relief thread uses it until pihost leaves (with _exit).
    (new pihost::Server(channel, args.library_links, args.max_result_bytes))->serve();
  } catch (const std::exception& e) {
    pihost::end_conversation(e);
  }
  // The host closed the channel. Something a call started may still run; it must not
  // outlive the conversation (nor must anything it started), and static destructors must not
  // run under it.
  pihost::leave(wire::exit_channel_closed);
}
