// Checked after the tests of every integration test process (ctest runs each test in a
// process of its own, so after every test): no child of the test process is left, zombies
// included; no cgroup and no private directory named for this process is left.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <dirent.h>

#include <fstream>

namespace isolator::test {
namespace {

std::vector<int> children_of_this_process() {
  std::vector<int> children;
  DIR* proc = ::opendir("/proc");
  while (const dirent* entry = ::readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    // A process may vanish while it is read: plain stdio, which reports that as a short read.
    std::FILE* stat = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (stat == nullptr) continue;
    char buffer[512] = {};
    const std::size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, stat);
    std::fclose(stat);
    const std::string text(buffer, n);
    const auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int parent = 0;
    if (std::sscanf(text.c_str() + close + 1, " %c %d", &state, &parent) == 2 && parent == ::getpid()) {
      children.push_back(pid);
    }
  }
  ::closedir(proc);
  return children;
}

class NothingLeftBehind : public ::testing::Environment {
 public:
  void TearDown() override {
    // A child killed a moment ago may still be on its way out.
    for (int i = 0; i < 200 && !children_of_this_process().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(children_of_this_process(), std::vector<int>{}) << "children (or zombies) left behind";
    EXPECT_EQ(things_named_for(::getpid()), std::vector<std::string>{})
        << "cgroups or private directories left behind";
  }
};

[[maybe_unused]] const auto* registered = ::testing::AddGlobalTestEnvironment(new NothingLeftBehind);

}  // namespace
}  // namespace isolator::test

#ifdef ISOLATOR_TEST_SANITIZED
// AddressSanitizer keeps up to 256 MiB of freed memory in quarantine, which would hide what
// the memory-bound tests check (a 100 MB output flood must not grow the host). A small
// quarantine keeps its use-after-free detection and lets resident size mean something.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=8"; }
#endif
