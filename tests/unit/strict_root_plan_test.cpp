// The strict profile's filesystem as planned on the host (sandbox.hpp: plan_sandbox() with
// Hardening::strict, and strict_library_directories()): what the new root shows, read-only or
// writable, in which order, and which plugin directories are refused. Nothing is mounted; the
// integration tests (strict_profile_test.cpp) check what a child sees in the root made.
#include "platform/linux/sandbox.hpp"
#include "temp_dir.hpp"

#include <isolator/errors.hpp>
#include <isolator/options.hpp>

#include <gtest/gtest.h>

#include <sched.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace isolator::detail {
namespace {

namespace fs = std::filesystem;

class StrictRootPlan : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(base_ / "bin");
    fs::create_directories(base_ / "plugins");
    fs::create_directories(base_ / "private" / "work");
    std::ofstream(base_ / "bin" / "pihost") << "";
    options_.hardening.strict = true;
    options_.hardening.plugin_directories = {base_ / "plugins"};
  }

  StrictRoot plan() const { return plan_sandbox(options_, base_ / "bin" / "pihost", base_ / "private").plan.root; }

  // The target of a step as the child sees it (inside the new root).
  static std::string shown(const StrictRoot& root, const RootStep& step) {
    return step.target.substr(root.mount_point.size());
  }
  // The index of the last step of `kind` at `path` inside the root, or nullopt.
  static std::optional<std::size_t> last(const StrictRoot& root, RootStep::Kind kind, const std::string& path) {
    std::optional<std::size_t> found;
    for (std::size_t i = 0; i < root.steps.size(); ++i) {
      if (root.steps[i].kind == kind && shown(root, root.steps[i]) == path) found = i;
    }
    return found;
  }

  test::TempDir temp_;
  const fs::path& base_ = temp_.path();
  Options options_;
};

TEST_F(StrictRootPlan, TheRootIsMadeInThePrivateWorkingDirectoryWithNetworkAndUtsNamespaces) {
  const auto choice = plan_sandbox(options_, base_ / "bin" / "pihost", base_ / "private");
  ASSERT_TRUE(choice.plan.root.enabled);
  EXPECT_EQ(choice.plan.root.mount_point, (base_ / "private" / "work").string());
  EXPECT_EQ(choice.plan.root.old_root, choice.plan.root.mount_point + "/.old-root");
  for (const int flag : {CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWNET, CLONE_NEWUTS})
    EXPECT_TRUE(choice.plan.namespaces & flag) << "namespace flag " << flag;
  EXPECT_TRUE(choice.plan.hide.empty() && choice.plan.writable.empty())
      << "the default sandbox's mounts are not made in the strict profile";
}

TEST_F(StrictRootPlan, EveryStepIsInsideTheRootAndComesAfterItsParentDirectory) {
  const auto root = plan();
  std::vector<std::string> directories = {""};  // the root itself
  for (const auto& step : root.steps) {
    ASSERT_EQ(step.target.rfind(root.mount_point + "/", 0), 0u) << step.target;
    const auto path = shown(root, step);
    const auto parent = fs::path(path).parent_path().string();
    EXPECT_TRUE(std::find(directories.begin(), directories.end(), parent == "/" ? "" : parent) != directories.end())
        << path << " comes before its parent directory";
    if (step.kind == RootStep::Kind::directory) directories.push_back(path);
  }
  EXPECT_EQ(root.steps.back().target, root.old_root) << "the old root's mount point comes last";
}

TEST_F(StrictRootPlan, SystemPluginAndPihostDirectoriesAreReadOnlyThePrivateDirectoryWritable) {
  const auto root = plan();
  const auto bind_of = [&](const std::string& path) -> const RootStep* {
    const auto i = last(root, RootStep::Kind::bind, path);
    return i ? &root.steps[*i] : nullptr;
  };
  for (const auto& path : {std::string("/usr"), (base_ / "plugins").string(), (base_ / "bin").string()}) {
    const auto* bind = bind_of(path);
    ASSERT_NE(bind, nullptr) << path << " is not shown";
    EXPECT_FALSE(bind->writable) << path;
    EXPECT_EQ(bind->source, path);
  }
  const auto* private_bind = bind_of((base_ / "private").string());
  ASSERT_NE(private_bind, nullptr);
  EXPECT_TRUE(private_bind->writable);
  EXPECT_EQ(bind_of("/etc"), nullptr) << "only chosen entries of /etc are shown";
  EXPECT_TRUE(bind_of("/etc/ld.so.cache") != nullptr || !fs::exists("/etc/ld.so.cache"));
  EXPECT_NE(bind_of("/dev/null"), nullptr);
  EXPECT_EQ(bind_of("/dev"), nullptr) << "only chosen device nodes are shown";
  for (const char* hidden : {"/root", "/home", "/var", "/sys", "/proc"}) EXPECT_EQ(bind_of(hidden), nullptr) << hidden;
}

TEST_F(StrictRootPlan, TmpAndDevShmAreFreshAndAsLargeAsTheMemoryLimit) {
  options_.limits.memory_bytes = 64ull << 20;
  const auto root = plan();
  for (const char* path : {"/tmp", "/dev/shm"}) {
    const auto i = last(root, RootStep::Kind::tmpfs, path);
    ASSERT_TRUE(i) << path;
    EXPECT_EQ(root.steps[*i].source, "mode=1777,size=" + std::to_string(64ull << 20)) << path;
  }
}

TEST_F(StrictRootPlan, TheDefaultSandboxsFreshTmpfsAreAsLargeAsTheMemoryLimitToo) {
  options_.hardening.strict = false;
  options_.hardening.plugin_directories.clear();
  const auto unlimited = plan_sandbox(options_, base_ / "bin" / "pihost", base_ / "private").plan;
  EXPECT_EQ(unlimited.fresh_tmpfs_options, "mode=1777");
  options_.limits.memory_bytes = 64ull << 20;
  const auto limited = plan_sandbox(options_, base_ / "bin" / "pihost", base_ / "private").plan;
  EXPECT_FALSE(limited.root.enabled);
  if (fs::is_directory("/dev/shm")) {
    EXPECT_NE(std::find(limited.fresh_tmpfs.begin(), limited.fresh_tmpfs.end(), "/dev/shm"), limited.fresh_tmpfs.end());
  }
  EXPECT_EQ(limited.fresh_tmpfs_options, "mode=1777,size=" + std::to_string(64ull << 20));
}

TEST_F(StrictRootPlan, MergedUsrLinksAreMadeAgainAsLinks) {
  std::error_code error;
  if (!fs::is_symlink(fs::symlink_status("/lib", error))) GTEST_SKIP() << "/lib is not a link here (no merged /usr)";
  const auto root = plan();
  const auto i = last(root, RootStep::Kind::symlink, "/lib");
  ASSERT_TRUE(i);
  EXPECT_EQ(root.steps[*i].source, fs::read_symlink("/lib").string());
}

TEST_F(StrictRootPlan, APluginDirectoryInsideAShownReadOnlyOneIsNotBoundTwice) {
  fs::create_directories(base_ / "plugins" / "more");
  options_.hardening.plugin_directories.push_back(base_ / "plugins" / "more");
  const auto root = plan();
  EXPECT_FALSE(last(root, RootStep::Kind::bind, (base_ / "plugins" / "more").string()));
}

TEST_F(StrictRootPlan, AReadOnlyBindInsideAWritableOneIsMountedOnTopOfIt) {
  // pihost's directory inside a writable path: pihost must stay read-only.
  options_.protection.writable_paths = {base_};
  const auto root = plan();
  const auto writable = last(root, RootStep::Kind::bind, base_.string());
  const auto pihost = last(root, RootStep::Kind::bind, (base_ / "bin").string());
  ASSERT_TRUE(writable && pihost);
  EXPECT_TRUE(root.steps[*writable].writable);
  EXPECT_FALSE(root.steps[*pihost].writable);
  EXPECT_LT(*writable, *pihost);
}

TEST_F(StrictRootPlan, PluginDirectoriesThatHoldTmpDevOrProcAreRefused) {
  for (const char* broad : {"/", "/dev"}) {
    options_.hardening.plugin_directories = {broad};
    try {
      plan();
      ADD_FAILURE() << broad << " was accepted";
    } catch (const StartError& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find("Options::hardening.plugin_directories"), std::string::npos) << message;
      EXPECT_NE(message.find("give the directories the plugins are in"), std::string::npos) << message;
    }
    EXPECT_THROW(strict_library_directories(options_.hardening), StartError) << broad;
  }
}

TEST_F(StrictRootPlan, AMissingPluginDirectoryIsRefusedNamingIt) {
  options_.hardening.plugin_directories = {base_ / "nowhere"};
  try {
    plan();
    ADD_FAILURE() << "a missing directory was accepted";
  } catch (const StartError& error) {
    EXPECT_NE(std::string(error.what()).find((base_ / "nowhere").string()), std::string::npos) << error.what();
  }
}

TEST_F(StrictRootPlan, TheLibraryDirectoriesAreTheSystemsAndThePluginDirectoriesCanonical) {
  fs::create_directory_symlink(base_ / "plugins", base_ / "link");
  options_.hardening.plugin_directories = {base_ / "link"};
  const auto directories = strict_library_directories(options_.hardening);
  EXPECT_NE(std::find(directories.begin(), directories.end(), fs::path("/usr")), directories.end());
  EXPECT_NE(std::find(directories.begin(), directories.end(), base_ / "plugins"), directories.end());
  for (const auto& directory : directories)
    EXPECT_FALSE(fs::is_symlink(directory)) << directory << ": a link is not where a library is found";
  options_.hardening.strict = false;
  EXPECT_TRUE(strict_library_directories(options_.hardening).empty());
}

}  // namespace
}  // namespace isolator::detail
