// pihost: the child process that runs plugin methods for one ProcessIsolator.
//
//   pihost --channel PATH --host-pid PID [--max-frame-bytes N]
//
// Started by the host library, never by hand. It arms its death signal, connects to the
// host's socket at PATH, says Hello, then serves Invoke/SetData/GetData until the host
// closes the channel, and exits. Exit codes: 0 channel closed, 64 bad usage, 69 host gone
// or unreachable at start, 70 a call could not be completed, 76 protocol error.
#include "src/call_runner.hpp"
#include "src/channel.hpp"
#include "src/data_store.hpp"
#include "src/host_watch.hpp"

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
constexpr int exit_protocol = 76;
// Room for a DataValue's other fields and headers within a frame.
constexpr std::size_t frame_overhead_bytes = 64;

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

void serve(pihost::Channel& channel) {
  // Never destroyed: when the channel closes, the call thread may be inside a call (waiting
  // on the runner's condition variable otherwise), and pihost leaves with _Exit anyway.
  auto& runner = *new pihost::CallRunner(channel);
  while (auto message = channel.receive()) {
    if (isolator::wire::sender_of(*message) != isolator::wire::Sender::host) {
      throw isolator::wire::ProtocolError("the host sent " +
                                          std::string(isolator::wire::message_name(*message)) +
                                          ", which only pihost may send");
    }
    if (auto* invoke = std::get_if<isolator::wire::Invoke>(&*message)) {
      runner.submit(std::move(*invoke));
    } else if (auto* set = std::get_if<isolator::wire::SetData>(&*message)) {
      pihost::DataStore::instance().set(set->key, std::move(set->value));
    } else if (auto* ping = std::get_if<isolator::wire::Ping>(&*message)) {
      channel.send(isolator::wire::Pong{ping->seq});
    } else if (auto* get = std::get_if<isolator::wire::GetData>(&*message)) {
      auto value = pihost::DataStore::instance().get(get->key);
      if (value && value->size() + frame_overhead_bytes > channel.max_frame_bytes()) {
        std::fprintf(stderr, "pihost: the value of '%s' (%zu bytes) is too large to send\n",
                     get->key.c_str(), value->size());
        value.reset();
      }
      channel.send(isolator::wire::DataValue{get->id, value.has_value(), value.value_or("")});
    } else {  // a message of the host's that this pihost does not know how to handle
      throw isolator::wire::ProtocolError("pihost cannot handle the host's " +
                                          std::string(isolator::wire::message_name(*message)));
    }
  }
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
    serve(channel);
  } catch (const isolator::wire::ProtocolError& e) {
    std::fprintf(stderr, "pihost: protocol error: %s\n", e.what());
    pihost::leave(exit_protocol);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pihost: %s\n", e.what());
    pihost::leave(pihost::exit_host_gone);
  }
  // The host closed the channel. A call may still be running on the call thread; it must not
  // outlive the conversation (nor must anything it started), and static destructors must not
  // run under it.
  pihost::leave(0);
}
