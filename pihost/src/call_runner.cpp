#include "call_runner.hpp"

#include "call_bytes.hpp"
#include "host_watch.hpp"

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

namespace pihost {

using isolator::wire::exit_internal_error;
using isolator::wire::Failed;
using isolator::wire::FailureReason;
using isolator::wire::Invoke;
using isolator::wire::Result;

namespace {

// A message (an exception's what(), a dlerror text) is cut to this size, so that a reply
// always fits in a frame.
constexpr std::size_t max_message_bytes = 64 * 1024;

rlim_t address_space_limit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_AS, &limit);
  return limit.rlim_cur;
}

// A failed allocation under RLIMIT_AS is the limit doing its job (the rlimit backend's
// counterpart of a cgroup's OOM kill).
bool address_space_limited() { return address_space_limit() != RLIM_INFINITY; }

std::string bounded(std::string message) {
  if (message.size() > max_message_bytes) {
    message.resize(max_message_bytes);
    message += " [... cut by pihost]";
  }
  return message;
}

}  // namespace

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
    channel_.send(Failed{invoke.id, resolution.reason, bounded(resolution.message), {}});
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
  meter_.start();
  int code = 0;
  std::string thrown;
  bool threw = false;
  bool out_of_memory = false;
  try {
    code = resolution.method(static_cast<int>(strings.size()), argv.data());
  } catch (const std::bad_alloc& e) {
    threw = true;
    out_of_memory = address_space_limited();
    thrown = e.what();
  } catch (const std::exception& e) {
    threw = true;
    thrown = e.what();
  } catch (...) {
    threw = true;
    thrown = "an exception that is not a std::exception";
  }
  const auto usage = meter_.stop();
  ResultBytes result = bytes.end();
  // Flush before replying: the host attributes output to the call whose reply follows it.
  std::fflush(nullptr);

  if (out_of_memory) {
    channel_.send(Failed{invoke.id, FailureReason::memory_limit,
                         "'" + invoke.symbol +
                             "' ran out of memory (std::bad_alloc) under its "
                             "address-space limit (RLIMIT_AS) of " +
                             std::to_string(address_space_limit()) + " bytes",
                         usage});
  } else if (threw) {
    channel_.send(
        Failed{invoke.id, FailureReason::threw, bounded("'" + invoke.symbol + "' threw: " + thrown), usage});
  } else if (result.refused_size) {
    channel_.send(Failed{invoke.id, FailureReason::result_too_large,
                         bounded("'" + invoke.symbol + "' returned " + std::to_string(*result.refused_size) +
                                 " result bytes (isolator_result_set), more than the cap of " +
                                 std::to_string(max_result_bytes_) +
                                 " bytes; raise Options::max_result_bytes, or return less"),
                         usage});
  } else {
    channel_.send(Result{invoke.id, code, usage, std::move(result.bytes)});
  }
}

}  // namespace pihost
