// pihost: the child process that runs plugin methods for one ProcessIsolator.
//
//   pihost --channel PATH --host-pid PID [--max-frame-bytes N]
//
// Started by the host library, never by hand. It arms its death signal, connects to the
// host's socket at PATH, says Hello, then serves Invoke/SetData/GetData until the host
// closes the channel, and exits. Exit codes: 0 channel closed, 64 bad usage, 69 host gone
// or unreachable at start, 70 a call could not be completed, 76 protocol error.
#include "src/channel.hpp"
#include "src/host_watch.hpp"
#include "src/server.hpp"

#include <isolator/wire/codec.hpp>

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr int exit_usage = 64;

struct Arguments {
  std::string channel;
  pid_t host_pid = 0;
  std::size_t max_frame_bytes = isolator::wire::default_max_frame_bytes;
  bool core_dumps = false;  // --core-dumps: stay dumpable (Options::allow_core_dumps)
};

[[noreturn]] void usage_error(const char* message) {
  std::fprintf(stderr,
               "pihost: %s\nusage: pihost --channel PATH --host-pid PID [--max-frame-bytes N] [--core-dumps]\n"
               "pihost is started by the isolator library; it is not meant to be run by hand.\n",
               message);
  std::exit(exit_usage);
}

unsigned long long parse_number(const char* text, const char* flag) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value == 0) {
    usage_error((std::string("bad value for ") + flag + ": '" + text + "'").c_str());
  }
  return value;
}

Arguments parse(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--core-dumps") {
      args.core_dumps = true;
      continue;
    }
    if (i + 1 >= argc) usage_error(("missing value for " + flag).c_str());
    const char* value = argv[++i];
    if (flag == "--channel") {
      args.channel = value;
    } else if (flag == "--host-pid") {
      args.host_pid = static_cast<pid_t>(parse_number(value, "--host-pid"));
    } else if (flag == "--max-frame-bytes") {
      args.max_frame_bytes = parse_number(value, "--max-frame-bytes");
    } else {
      usage_error(("unknown option " + flag).c_str());
    }
  }
  if (args.channel.empty() || args.host_pid == 0) usage_error("--channel and --host-pid are required");
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  const Arguments args = parse(argc, argv);
  // exec made pihost dumpable again: unless core dumps were asked for, no core and no
  // ptrace by other processes of the user.
  if (!args.core_dumps) ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  pihost::guard_against_orphans(args.host_pid);
  pihost::start_host_watch(args.host_pid);
  // Plugin output reaches the host line by line, as it is written.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  try {
    pihost::Channel channel(args.channel, args.max_frame_bytes);
    channel.send(isolator::wire::Hello{isolator::wire::protocol_version, ::getpid()});
    // Never destroyed: its relief thread uses it until pihost leaves (with _exit).
    (new pihost::Server(channel))->serve();
  } catch (const std::exception& e) {
    pihost::end_conversation(e);
  }
  // The host closed the channel. Something a call started may still run; it must not
  // outlive the conversation (nor must anything it started), and static destructors must not
  // run under it.
  pihost::leave(0);
}
