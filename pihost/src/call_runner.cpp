#include "call_runner.hpp"

#include "usage_meter.hpp"

#include <cstdio>
#include <exception>

namespace pihost {

using isolator::wire::Failed;
using isolator::wire::FailureReason;
using isolator::wire::Invoke;
using isolator::wire::Result;

CallRunner::CallRunner(Channel& channel) : channel_(channel), thread_([this] { run(); }) {
  thread_.detach();
}

void CallRunner::submit(Invoke invoke) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(invoke));
  }
  wake_.notify_one();
}

void CallRunner::run() {
  while (true) {
    Invoke next;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return !queue_.empty(); });
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      execute(next);
    } catch (const std::exception& e) {
      // The reply could not be sent: the host is gone, and the main thread will see it.
      std::fprintf(stderr, "pihost: cannot reply to call %llu: %s\n",
                   static_cast<unsigned long long>(next.id), e.what());
      return;
    }
  }
}

void CallRunner::execute(const Invoke& invoke) {
  const Resolution resolution = libraries_.resolve(invoke.library, invoke.symbol);
  if (resolution.method == nullptr) {
    channel_.send(Failed{invoke.id, resolution.reason, resolution.message, {}});
    return;
  }

  // argv as a C program sees it: the library's path, the arguments, then NULL. The method
  // may modify the strings, so it gets its own copies.
  std::vector<std::string> strings;
  strings.reserve(invoke.args.size() + 1);
  strings.push_back(invoke.library);
  strings.insert(strings.end(), invoke.args.begin(), invoke.args.end());
  std::vector<char*> argv;
  argv.reserve(strings.size() + 1);
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  UsageMeter meter;
  meter.start();
  int code = 0;
  std::string thrown;
  bool threw = false;
  try {
    code = resolution.method(static_cast<int>(strings.size()), argv.data());
  } catch (const std::exception& e) {
    threw = true;
    thrown = e.what();
  } catch (...) {
    threw = true;
    thrown = "an exception that is not a std::exception";
  }
  const auto usage = meter.stop();
  // Flush before replying: the host attributes output to the call whose reply follows it.
  std::fflush(nullptr);

  if (threw) {
    channel_.send(Failed{invoke.id, FailureReason::threw,
                         "'" + invoke.symbol + "' threw: " + thrown, usage});
  } else {
    channel_.send(Result{invoke.id, code, usage});
  }
}

}  // namespace pihost
