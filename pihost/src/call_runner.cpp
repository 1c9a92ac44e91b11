#include "call_runner.hpp"

#include "call_bytes.hpp"
#include "demangle.hpp"
#include "host_calls.hpp"
#include "host_watch.hpp"

#include <sys/resource.h>

#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <typeinfo>

namespace pihost {

using isolator::wire::exit_internal_error;
using isolator::wire::Failed;
using isolator::wire::FailureReason;
using isolator::wire::Invoke;
using isolator::wire::Result;

namespace {

// A message (an exception's what(), a dlerror text) is cut to this size, or to what the
// frame leaves when the host chose a smaller one, so that a reply always fits in a frame.
constexpr std::size_t max_message_bytes = 64 * 1024;
// An exception's type name is cut to this size (a template's name can be long).
constexpr std::size_t max_exception_type_bytes = 512;
constexpr std::string_view cut_marker = " [... cut by pihost]";
// What a Failed frame holds besides its message, with room to spare: the frame's length, the
// array, type, id, reason, the message's str header and the usage (about 60 bytes), and the
// exception's type.
constexpr std::size_t failed_frame_overhead = 256 + max_exception_type_bytes + cut_marker.size();

// The type of the exception being handled, demangled ("std::runtime_error"); empty when the
// runtime does not know it (an exception of another language's runtime).
std::string current_exception_type() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (type == nullptr) return {};
  std::string name = demangled(type->name());
  if (name.size() > max_exception_type_bytes) {
    name.resize(max_exception_type_bytes);
    name += cut_marker;
  }
  return name;
}

rlim_t address_space_limit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_AS, &limit);
  return limit.rlim_cur;
}

// A failed allocation under RLIMIT_AS is the limit doing its job (the rlimit backend's
// counterpart of a cgroup's OOM kill).
bool address_space_limited() { return address_space_limit() != RLIM_INFINITY; }

}  // namespace

std::string bounded_message(std::string message, std::size_t max_frame_bytes) {
  const std::size_t reserved = failed_frame_overhead + cut_marker.size();
  const std::size_t room = std::min(max_message_bytes, max_frame_bytes > reserved ? max_frame_bytes - reserved : 0);
  if (message.size() > room) {
    message.resize(room);
    message += cut_marker;
  }
  return message;
}

void CallRunner::run(Invoke& invoke) {
  try {
    execute(invoke);
  } catch (const std::exception& e) {
    // A call that cannot be answered must not leave the host waiting for ever: end the
    // child, which the host sees at once.
    std::fprintf(stderr, "pihost: cannot complete call %llu: %s\n",
                 static_cast<unsigned long long>(invoke.id), e.what());
    leave(exit_internal_error);
  }
}

void CallRunner::execute(Invoke& invoke) {
  std::fflush(nullptr);
  const Resolution resolution = libraries_.resolve(invoke.library, invoke.symbol, invoke.search_path);
  if (resolution.method == nullptr) {
    channel_.send(Failed{invoke.id, resolution.reason, bounded_message(resolution.message, channel_.max_frame_bytes()), {}, {}});
    return;
  }
  // Once the library is loaded and the symbol found, just before the method runs: a child
  // that dies before this (a library whose static initializers crash, say) never ran the
  // method, which the host counts against its restart limit; a death after it is the call's.
  channel_.send(isolator::wire::Started{invoke.id});

  // argv as a C program sees it: the library's path, the arguments, then NULL. The method
  // may modify the strings: it gets the call's own (moved, not copied).
  std::vector<std::string> strings;
  strings.reserve(invoke.args.size() + 1);
  strings.push_back(invoke.library);
  for (auto& arg : invoke.args) strings.push_back(std::move(arg));
  std::vector<char*> argv;
  argv.reserve(strings.size() + 1);
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  CallBytes& bytes = CallBytes::instance();
  bytes.begin(std::move(invoke.input), max_result_bytes_);
  HostCalls::instance().begin(invoke.id);
  meter_.start();
  int code = 0;
  std::string thrown;
  std::string thrown_type;
  bool threw = false;
  bool out_of_memory = false;
  try {
    code = resolution.method(static_cast<int>(strings.size()), argv.data());
  } catch (const std::bad_alloc& e) {
    threw = true;
    out_of_memory = address_space_limited();
    thrown = e.what();
    thrown_type = current_exception_type();
  } catch (const std::exception& e) {
    threw = true;
    thrown = e.what();
    thrown_type = current_exception_type();
  } catch (...) {
    threw = true;
    thrown_type = current_exception_type();
    thrown = "an exception that is not a std::exception" + (thrown_type.empty() ? "" : " (" + thrown_type + ")");
  }
  const auto usage = meter_.stop();
  HostCalls::instance().end();
  ResultBytes result = bytes.end();
  // Flush before replying: the host attributes output to the call whose reply follows it.
  std::fflush(nullptr);

  const std::size_t frame = channel_.max_frame_bytes();
  if (out_of_memory) {
    channel_.send(Failed{invoke.id, FailureReason::memory_limit,
                         bounded_message("'" + invoke.symbol +
                                     "' ran out of memory (std::bad_alloc) under its "
                                     "address-space limit (RLIMIT_AS) of " +
                                     std::to_string(address_space_limit()) + " bytes",
                                 frame),
                         usage, {}});
  } else if (threw) {
    channel_.send(Failed{invoke.id, FailureReason::threw, bounded_message("'" + invoke.symbol + "' threw: " + thrown, frame),
                         usage, std::move(thrown_type)});
  } else if (result.refused_size) {
    channel_.send(Failed{invoke.id, FailureReason::result_too_large,
                         bounded_message("'" + invoke.symbol + "' returned " + std::to_string(*result.refused_size) +
                                     " result bytes (isolator_result_set), more than the cap of " +
                                     std::to_string(max_result_bytes_) +
                                     " bytes; raise Options::max_result_bytes, or return less",
                                 frame),
                         usage, {}});
  } else {
    channel_.send(Result{invoke.id, code, usage, std::move(result.bytes)});
  }
}

}  // namespace pihost
