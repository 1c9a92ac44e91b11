// What the child inherits from the host: descriptors, environment, working directory.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace isolator {
namespace {

using test::plugin;

// Below 100 the child holds exactly stdio; above, pihost's own two: the channel and the
// pidfd through which its watchdog watches the host. Nothing of the host's.
TEST(ChildEnvironment, ChildHasOnlyStdioTheChannelAndTheHostWatch) {
  // A descriptor the host opened without close-on-exec must not reach the child.
  const int leaked = ::dup(0);
  ASSERT_GE(leaked, 0);
  auto isolator = ProcessIsolator::create(test::options());
  const auto r = isolator->invoke(plugin("inspect"), "list_fds", {});
  ::close(leaked);
  ASSERT_TRUE(r.ok()) << r.failure->message;
  std::vector<std::string> lines;
  for (const auto& line : r.output) lines.push_back(line.text);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "fd 0 -> /dev/null");
  EXPECT_EQ(lines[1].rfind("fd 1 -> pipe:", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("fd 2 -> pipe:", 0), 0u) << lines[2];
  int high[2] = {0, 0};
  char kinds[2][64] = {};
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(std::sscanf(lines[3 + static_cast<std::size_t>(i)].c_str(), "fd %d -> %63s", &high[i], kinds[i]), 2);
    EXPECT_GE(high[i], 100) << lines[3 + static_cast<std::size_t>(i)];
  }
  const std::string both = std::string(kinds[0]) + " " + kinds[1];
  EXPECT_NE(both.find("socket:"), std::string::npos) << both;
  EXPECT_NE(both.find("pidfd"), std::string::npos) << both;
}

TEST(ChildEnvironment, HostSecretsAreInvisibleUnlessAllowed) {
  ::setenv("ISOLATOR_TEST_SECRET", "hunter2", 1);
  {
    auto isolator = ProcessIsolator::create(test::options());
    const auto r = isolator->invoke(plugin("inspect"), "get_env", {"ISOLATOR_TEST_SECRET"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r.code, 0);
    EXPECT_EQ(r.output.at(0).text, "(unset)");
  }
  {
    Options options = test::options();
    options.inherit_environment.push_back("ISOLATOR_TEST_SECRET");
    auto isolator = ProcessIsolator::create(options);
    const auto r = isolator->invoke(plugin("inspect"), "get_env", {"ISOLATOR_TEST_SECRET"});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.output.at(0).text, "hunter2");
  }
  ::unsetenv("ISOLATOR_TEST_SECRET");
}

TEST(ChildEnvironment, ExplicitVariablesAreSet) {
  Options options = test::options();
  options.environment.emplace_back("ISOLATOR_TEST_GIVEN", "given value");
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(plugin("inspect"), "get_env", {"ISOLATOR_TEST_GIVEN"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.output.at(0).text, "given value");
}

TEST(ChildEnvironment, WorkingDirectoryIsPrivateAndRemovedAtShutdown) {
  test::TempDir tmp;
  std::optional<test::ScopedTmpdir> in_tmp(std::in_place, tmp.path());
  auto isolator = ProcessIsolator::create(test::options());
  in_tmp.reset();
  const auto r = isolator->invoke(plugin("inspect"), "get_cwd", {});
  ASSERT_TRUE(r.ok());
  const std::filesystem::path cwd = r.output.at(0).text;
  EXPECT_EQ(cwd.parent_path().parent_path(), tmp.path()) << cwd;
  const auto status = std::filesystem::status(cwd.parent_path());
  EXPECT_EQ(status.permissions() & std::filesystem::perms::all, std::filesystem::perms::owner_all);
  isolator->shutdown();
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << "the private directory was removed";
}

}  // namespace
}  // namespace isolator
