// The file descriptors the host holds for its children, measured per backend; and a start
// that runs out of them says so, how many a child needs, and the fix.
//
// The documented figures below are docs/limits.md's ("File descriptors") and the start
// error's (isolator/src/platform/linux/descriptor_hint.cpp): keep the three in step.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace isolator {
namespace {

// Every backend: the channel socket, the pidfd, the stdout and stderr pipes.
constexpr int every_child = 4;
// At most, per running child: cgroup v2 adds cgroup.procs, cpu.stat and memory.events (where
// the memory controller is on); cgroup v1 cgroup.procs in each of five hierarchies and four
// statistics files.
int documented_per_child(Containment containment) {
  switch (containment) {
    case Containment::cgroup_v2: return 8;  // with the sandbox's init pidfd, as every backend
    case Containment::cgroup_v1: return 14;
    default: return 5;
  }
}
// An io_context: epoll, eventfd, timerfd.
constexpr int documented_per_io_thread = 3;
// While a child spawns, on its thread: the listening socket, the pipes' write ends, /dev/null.
constexpr int documented_while_starting = 4;

// Lowers this process's soft RLIMIT_NOFILE for the scope (the hard limit stays), and
// restores it however the scope ends. Children spawned meanwhile inherit the lower limit.
class ScopedSoftFdLimit {
 public:
  explicit ScopedSoftFdLimit(rlim_t soft) {
    if (::getrlimit(RLIMIT_NOFILE, &saved_) != 0) ADD_FAILURE() << "getrlimit: " << std::strerror(errno);
    rlimit lower = saved_;
    lower.rlim_cur = soft;
    if (::setrlimit(RLIMIT_NOFILE, &lower) != 0) ADD_FAILURE() << "setrlimit: " << std::strerror(errno);
  }
  ~ScopedSoftFdLimit() {
    if (::setrlimit(RLIMIT_NOFILE, &saved_) != 0) ADD_FAILURE() << "restoring RLIMIT_NOFILE failed";
  }
  ScopedSoftFdLimit(const ScopedSoftFdLimit&) = delete;
  ScopedSoftFdLimit& operator=(const ScopedSoftFdLimit&) = delete;

 private:
  rlimit saved_{};
};

// The lowest descriptor number free now: with the soft limit set to it, no descriptor can
// be made at all.
int lowest_free_descriptor() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ::close(fd);
  return fd;
}

// How many descriptors the objects `make` creates hold once it has returned (every child
// started); and that destroying them closes every one.
int held_by(const std::function<std::vector<std::shared_ptr<void>>()>& make) {
  const int before = test::count_open_fds();
  auto objects = make();
  const int held = test::count_open_fds() - before;
  objects.clear();
  EXPECT_EQ(test::count_open_fds(), before) << "destroying them closed everything they opened";
  return held;
}

int held_by_isolators(Containment containment, int count) {
  return held_by([&] {
    std::vector<std::shared_ptr<void>> isolators;
    for (int i = 0; i < count; ++i) isolators.push_back(ProcessIsolator::create(test::confined(containment)));
    return isolators;
  });
}

PoolOptions pool_options(Containment containment, std::size_t size, std::optional<std::size_t> threads) {
  PoolOptions options;
  options.isolator = test::confined(containment);
  options.size = size;
  options.threads = threads;
  return options;
}

int held_by_pool(Containment containment, std::size_t size) {
  return held_by([&] {
    return std::vector<std::shared_ptr<void>>{IsolatorPool::create(pool_options(containment, size, 1))};
  });
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << text << "\nshould contain: " << part;
}

// What a start that ran out of descriptors must say, wherever it ran out.
void expect_out_of_descriptors_message(const std::string& message, rlim_t soft_limit) {
  expect_contains(message, "Too many open files");
  expect_contains(message,
                  "this process ran out of file descriptors (EMFILE: its RLIMIT_NOFILE soft limit is " +
                      std::to_string(soft_limit) + ")");
  expect_contains(message, "each child holds about 5 descriptors with containment rlimit, 8 with cgroup-v2, "
                           "14 with cgroup-v1, each I/O thread 3");
  expect_contains(message, "raise the limit (`ulimit -n`, setrlimit(RLIMIT_NOFILE)");
  expect_contains(message, "or start fewer children");
}

class DescriptorsTest : public ::testing::TestWithParam<Containment> {
 protected:
  void SetUp() override {
    if (const auto why = test::cannot(GetParam()); !why.empty()) {
      GTEST_SKIP() << to_string(GetParam()) << " cannot be used on this machine: " << why;
    }
  }
};

TEST_P(DescriptorsTest, EachChildHoldsNoMoreThanDocumented) {
  const Containment containment = GetParam();
  const int isolator1 = held_by_isolators(containment, 1);
  const int isolators4 = held_by_isolators(containment, 4);
  const int pool1 = held_by_pool(containment, 1);  // one I/O thread
  const int pool4 = held_by_pool(containment, 4);  // one I/O thread
  const int per_child = (pool4 - pool1) / 3;
  const int per_thread = pool1 - per_child;
  std::cout << "[ figures  ] " << to_string(containment) << ": " << per_child << " per child, " << per_thread
            << " per I/O thread (1 isolator " << isolator1 << ", 4 isolators " << isolators4
            << "; a pool with one I/O thread: of 1 " << pool1 << ", of 4 " << pool4 << ")\n";
  EXPECT_EQ((pool4 - pool1) % 3, 0) << "every child of a pool holds as many";
  EXPECT_GE(per_child, every_child);
  EXPECT_LE(per_child, documented_per_child(containment));
  EXPECT_LE(per_thread, documented_per_io_thread);
  // An isolator is one child on one I/O thread of its own, nothing shared between isolators.
  EXPECT_EQ(isolator1, pool1);
  EXPECT_EQ(isolators4, 4 * isolator1);
}

TEST_P(DescriptorsTest, APoolStartsWithinTheDocumentedBudget) {
  // 4 children on 1 I/O thread: what they hold, the thread's context, one spawn at a time.
  const int budget = 4 * documented_per_child(GetParam()) + documented_per_io_thread +
                     documented_while_starting;
  const int before = test::count_open_fds();
  {
    ScopedSoftFdLimit limit(static_cast<rlim_t>(before + budget));
    EXPECT_NO_THROW(IsolatorPool::create(pool_options(GetParam(), 4, 1))) << "within " << budget;
  }
  EXPECT_EQ(test::count_open_fds(), before);
}

TEST_P(DescriptorsTest, APoolThatRunsOutOfDescriptorsSaysSoAndTheFix) {
  // 16 descriptors more than are open: enough for the pool's two I/O threads and a child or
  // two, far from the 8 x 4 + 2 x 3 or more that 8 children need under any backend.
  const int before = test::count_open_fds();
  const auto soft_limit = static_cast<rlim_t>(before + 16);
  std::string message = "(no StartError)";
  {
    ScopedSoftFdLimit limit(soft_limit);
    try {
      IsolatorPool::create(pool_options(GetParam(), 8, 2));
    } catch (const StartError& e) {
      message = e.what();
    }
  }
  expect_out_of_descriptors_message(message, soft_limit);
  EXPECT_EQ(test::count_open_fds(), before) << "the failed start closed everything it opened";
}

INSTANTIATE_TEST_SUITE_P(Backends, DescriptorsTest,
                         ::testing::Values(Containment::cgroup_v2, Containment::cgroup_v1,
                                           Containment::rlimit),
                         [](const auto& param) { return test::identifier(param.param); });

// With no descriptor left at all, the first one create() needs fails it: an isolator's while
// it chooses the containment (reading /proc/self/mountinfo), a pool's for its I/O threads'
// event loops. Both say so, rather than choose a weaker backend or throw Asio's error.
TEST(Descriptors, WithNoDescriptorLeftCreateSaysSoAndTheFix) {
  const int before = test::count_open_fds();
  const auto soft_limit = static_cast<rlim_t>(lowest_free_descriptor());
  std::string isolator_message = "(no StartError)";
  std::string pool_message = "(no StartError)";
  {
    ScopedSoftFdLimit limit(soft_limit);
    try {
      ProcessIsolator::create(test::options());
    } catch (const StartError& e) {
      isolator_message = e.what();
    }
    try {
      PoolOptions options;
      options.isolator = test::options();
      IsolatorPool::create(options);
    } catch (const StartError& e) {
      pool_message = e.what();
    }
  }
  expect_out_of_descriptors_message(isolator_message, soft_limit);
  expect_contains(isolator_message, "cannot read /proc/self/mountinfo and /proc/self/cgroup");
  expect_out_of_descriptors_message(pool_message, soft_limit);
  expect_contains(pool_message, "cannot create the I/O threads' event loop");
  EXPECT_EQ(test::count_open_fds(), before);
}

// With a few descriptors to spare, a start runs out inside the sandbox's helper process (its
// copy of the host's descriptor table takes one descriptor per path the mounts bind). That
// says nothing about what the machine provides: the start must fail, never go on without the
// sandbox, as it would if the sandbox could not be made here. Tries every number of spare
// descriptors from none up to the first that starts.
void expect_running_out_never_drops_the_sandbox(const Options& options) {
  const int before = test::count_open_fds();
  std::vector<int> failed_in_the_sandbox;  // how many were spare
  bool started = false;
  for (int spare = 0; spare <= 64 && !started; ++spare) {
    std::string failure;
    std::shared_ptr<ProcessIsolator> isolator;
    {
      ScopedSoftFdLimit limit(static_cast<rlim_t>(lowest_free_descriptor() + spare));
      try {
        isolator = ProcessIsolator::create(options);
      } catch (const StartError& e) {
        failure = e.what();
      }
    }
    if (!isolator) {
      // The helper's steps that take a descriptor per bound path.
      if (failure.find("could not take a") != std::string::npos) {
        failed_in_the_sandbox.push_back(spare);
        expect_contains(failure, "Too many open files");
        expect_contains(failure, "this process ran out of file descriptors");
        // Neither taken for a machine without the sandbox (nor, strict, without its root).
        EXPECT_EQ(failure.find("protection missing"), std::string::npos) << failure;
        EXPECT_EQ(failure.find("cannot be made here"), std::string::npos) << failure;
      }
      continue;
    }
    started = true;
    std::cout << "the first start with " << spare << " descriptors to spare; it ran out inside the sandbox's "
              << "helper with";
    for (const int n : failed_in_the_sandbox) std::cout << " " << n;
    std::cout << "\n";
    EXPECT_TRUE(test::in_a_pid_namespace_of_its_own(isolator->pid()))
        << "with " << spare << " descriptors to spare the isolator started without the sandbox";
    const auto r = isolator->invoke(test::plugin("args"), "echo", {"1"});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.failure->message);
  }
  EXPECT_TRUE(started) << "no start within 64 descriptors to spare";
  EXPECT_FALSE(failed_in_the_sandbox.empty())
      << "no start ran out inside the sandbox's helper, so this test did not try what it is about";
  EXPECT_EQ(test::count_open_fds(), before);
}

TEST(Descriptors, RunningOutWhileMakingTheSandboxFailsTheStartAndNeverDropsTheSandbox) {
  if (const auto why = test::sandbox_unavailable(); !why.empty()) GTEST_SKIP() << "no sandbox here: " << why;
  expect_running_out_never_drops_the_sandbox(test::options());
}

TEST(Descriptors, RunningOutWhileMakingTheStrictRootFailsTheStart) {
  auto options = test::options();
  options.hardening.strict = true;
  options.hardening.plugin_directories = {std::filesystem::path(test::plugin("args")).parent_path()};
  for (const auto& check : probe(options).hardening) {
    if (check.limit == "strict" && !check.enforceable) GTEST_SKIP() << "no strict profile here: " << check.how;
  }
  expect_running_out_never_drops_the_sandbox(options);
}

}  // namespace
}  // namespace isolator
