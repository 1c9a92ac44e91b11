// call_check.hpp: loadable_library(), which library paths the strict profile lets a call
// send, and at which path; checked_run() and run_frame(), a Command as its Run message.
// Made-up directories under a fresh temporary one; no child.
#include "call_check.hpp"
#include "engine/call_queue.hpp"
#include "temp_dir.hpp"

#include <isolator/errors.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace isolator::detail {
namespace {

namespace fs = std::filesystem;

class LoadableLibrary : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(root_ / "plugins");
    fs::create_directories(root_ / "plugins-evil");
    fs::create_directories(root_ / "elsewhere");
    for (const char* file : {"plugins/libok.so", "plugins-evil/libbad.so", "elsewhere/libbad.so"})
      std::ofstream(root_ / file) << "not really a library";
    directories_ = {root_ / "plugins"};
  }

  // The message of the Error loadable_library() throws for `library`, or "" when it throws none.
  std::string refusal(const fs::path& library) {
    try {
      loadable_library(library.string(), directories_);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  }

  test::TempDir temp_;
  // Canonical, as strict_library_directories() gives the directories.
  const fs::path& root_ = temp_.path();
  std::vector<fs::path> directories_;
};

TEST_F(LoadableLibrary, WithoutTheStrictProfileAnyPathIsSentUnchanged) {
  const std::string outside = (root_ / "elsewhere" / ".." / "elsewhere" / "libbad.so").string();
  EXPECT_EQ(loadable_library(outside, {}), outside);
}

TEST_F(LoadableLibrary, ARelativePathIsLeftForPihostToRefuse) {
  EXPECT_EQ(loadable_library("libok.so", directories_), "libok.so");
}

TEST_F(LoadableLibrary, ALibraryInAPluginDirectoryIsSentAtItsCanonicalPath) {
  fs::create_directory_symlink(root_ / "plugins", root_ / "link-to-plugins");
  EXPECT_EQ(loadable_library((root_ / "plugins" / "libok.so").string(), directories_),
            (root_ / "plugins" / "libok.so").string());
  EXPECT_EQ(loadable_library((root_ / "link-to-plugins" / "libok.so").string(), directories_),
            (root_ / "plugins" / "libok.so").string());
  EXPECT_EQ(loadable_library((root_ / "elsewhere" / ".." / "plugins" / "libok.so").string(), directories_),
            (root_ / "plugins" / "libok.so").string());
}

TEST_F(LoadableLibrary, ALibraryOutsideEveryDirectoryIsRefusedNamingItAndTheFix) {
  const auto message = refusal(root_ / "elsewhere" / "libbad.so");
  EXPECT_NE(message.find((root_ / "elsewhere" / "libbad.so").string()), std::string::npos) << message;
  EXPECT_NE(message.find((root_ / "plugins").string()), std::string::npos) << message;
  EXPECT_NE(message.find("nothing was run"), std::string::npos) << message;
  EXPECT_NE(message.find("Options::hardening.plugin_directories"), std::string::npos) << message;
}

TEST_F(LoadableLibrary, ADirectoryWhoseNameOnlyStartsLikeAPluginDirectoryIsOutside) {
  EXPECT_NE(refusal(root_ / "plugins-evil" / "libbad.so"), "");
}

TEST_F(LoadableLibrary, DotDotCannotClimbOutOfAPluginDirectory) {
  const auto message = refusal(root_ / "plugins" / ".." / "elsewhere" / "libbad.so");
  EXPECT_NE(message.find((root_ / "elsewhere" / "libbad.so").string()), std::string::npos)
      << "the refusal names where the path leads: " << message;
}

TEST_F(LoadableLibrary, ALinkInAPluginDirectoryToALibraryOutsideIsRefused) {
  fs::create_symlink(root_ / "elsewhere" / "libbad.so", root_ / "plugins" / "libescape.so");
  const auto message = refusal(root_ / "plugins" / "libescape.so");
  EXPECT_NE(message.find((root_ / "elsewhere" / "libbad.so").string()), std::string::npos)
      << "the refusal names where the link leads: " << message;
}

TEST_F(LoadableLibrary, AMissingLibraryInAPluginDirectoryIsSentForPihostToReport) {
  // pihost answers library_not_found for it, as without the profile.
  EXPECT_EQ(loadable_library((root_ / "plugins" / "libmissing.so").string(), directories_),
            (root_ / "plugins" / "libmissing.so").string());
}

// configured_search_path() and call_search_path(): absolute directories, and under the
// strict profile only those it shows, sent with their links resolved; the call's come first.
TEST_F(LoadableLibrary, SearchPathsMustBeAbsolute) {
  Options options;
  options.library_search_path = {"deps"};
  EXPECT_THROW(configured_search_path(options, {}), OptionsError);
  Invocation call{"/p/lib.so", "method", {}, {}};
  call.options.library_search_path = {"deps"};
  EXPECT_THROW(call_search_path(call, {}, {}), Error);
}

TEST_F(LoadableLibrary, WithoutTheProfileTheCallsSearchPathComesBeforeTheConfiguredOne) {
  Options options;
  options.library_search_path = {"/opt/b", "/opt/c/"};
  const auto configured = configured_search_path(options, {});
  EXPECT_EQ(configured, (std::vector<std::string>{"/opt/b", "/opt/c/"}));
  Invocation call{"/p/lib.so", "method", {}, {}};
  EXPECT_EQ(call_search_path(call, configured, {}), configured);
  call.options.library_search_path = {"/opt/a"};
  EXPECT_EQ(call_search_path(call, configured, {}), (std::vector<std::string>{"/opt/a", "/opt/b", "/opt/c/"}));
}

TEST_F(LoadableLibrary, TheStrictProfileTakesOnlyDirectoriesItShowsAndResolvesTheirLinks) {
  fs::create_symlink(root_ / "plugins", root_ / "link-to-plugins");
  Options options;
  options.library_search_path = {root_ / "link-to-plugins"};
  EXPECT_EQ(configured_search_path(options, directories_), (std::vector<std::string>{(root_ / "plugins").string()}));
  options.library_search_path = {root_ / "elsewhere"};
  try {
    configured_search_path(options, directories_);
    ADD_FAILURE() << "a directory the child cannot see was taken";
  } catch (const OptionsError& error) {
    EXPECT_NE(std::string(error.what()).find("plugin_directories"), std::string::npos) << error.what();
  }
  Invocation call{(root_ / "plugins/libok.so").string(), "method", {}, {}};
  call.options.library_search_path = {root_ / "plugins-evil"};
  EXPECT_THROW(call_search_path(call, {}, directories_), Error);
}

}  // namespace
}  // namespace isolator::detail

namespace isolator::detail {
namespace {

// checked_run() and run_frame(): a Command as its Run message, or the Error that names what
// is wrong with it. No child.
std::string refusal_of(Command command, const std::vector<std::filesystem::path>& directories = {}) {
  try {
    checked_run(std::move(command), std::nullopt, directories);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(CheckedRun, ACommandBecomesItsRunWithTheEnvironmentAsNameValueEntries) {
  Command command{{"sort", "-r"}};
  command.input = std::string("b\0a", 3);
  command.environment = {{"LC_ALL", "C"}, {"EMPTY", ""}};
  command.working_directory = "/srv";
  const auto run = checked_run(command, std::chrono::milliseconds(1500), {});
  EXPECT_EQ(run.argv, (std::vector<std::string>{"sort", "-r"}));
  EXPECT_EQ(run.environment, (std::vector<std::string>{"LC_ALL=C", "EMPTY="}));
  EXPECT_EQ(run.directory, "/srv");
  EXPECT_EQ(run.input, std::string("b\0a", 3));
  EXPECT_EQ(run.cpu_limit_ms, 1500u);
  EXPECT_EQ(checked_run(Command{{"/bin/true"}}, std::nullopt, {}).cpu_limit_ms, 0u) << "no CPU limit";
}

TEST(CheckedRun, TheCommandsOwnCpuTimeReplacesTheIsolatorsForItsKeeper) {
  Command command{{"/bin/true"}};
  command.options.limits.cpu_time = std::chrono::milliseconds(250);
  EXPECT_EQ(checked_run(command, std::chrono::milliseconds(1500), {}).cpu_limit_ms, 250u);
  EXPECT_EQ(checked_run(command, std::nullopt, {}).cpu_limit_ms, 250u);
  command.options.limits.cpu_time = std::chrono::milliseconds(0);
  EXPECT_NE(refusal_of(command).find("CallOptions::limits.cpu_time"), std::string::npos);
}

TEST(CallLimitsInForce, EachOverrideReplacesTheIsolatorsLimitOfItsKindOnly) {
  Limits isolator;
  isolator.memory_bytes = 64u << 20;
  isolator.max_pids = 32;
  isolator.cpu_percent = 50;  // not a per-call limit: not reported
  CallLimits overrides;
  overrides.memory_bytes = 16u << 20;
  overrides.cpu_time = std::chrono::milliseconds(100);
  const auto limits = limits_in_force(isolator, overrides);
  EXPECT_EQ(limits.memory_bytes, 16u << 20);
  EXPECT_EQ(limits.cpu_time, std::chrono::milliseconds(100));
  EXPECT_EQ(limits.max_pids, 32u);
  const auto plain = limits_in_force(isolator, {});
  EXPECT_EQ(plain.memory_bytes, 64u << 20);
  EXPECT_FALSE(plain.cpu_time.has_value());
  EXPECT_FALSE(limits_in_force({}, {}).any());
}

TEST(CheckCallLimits, EachLimitThatCannotBeALimitIsNamed) {
  const auto refusal = [](const CallLimits& limits) {
    try {
      check_call_limits(limits, "the call");
      return std::string();
    } catch (const Error& error) {
      return std::string(error.what());
    }
  };
  CallLimits limits;
  EXPECT_EQ(refusal(limits), "");
  limits.memory_bytes = (1u << 20) - 1;
  EXPECT_NE(refusal(limits).find("at least 1 MiB"), std::string::npos);
  limits.memory_bytes = 1u << 20;
  EXPECT_EQ(refusal(limits), "") << "1 MiB is the least, as for Limits::memory_bytes";
  limits.max_pids = 0;
  EXPECT_NE(refusal(limits).find("CallOptions::limits.max_pids is 0"), std::string::npos);
  limits.max_pids = 1;
  limits.cpu_time = std::chrono::milliseconds(-5);
  EXPECT_NE(refusal(limits).find("CallOptions::limits.cpu_time is -5 ms"), std::string::npos);
}

TEST(CheckedRun, EachBadFieldIsNamedWithTheFix) {
  EXPECT_NE(refusal_of(Command{}).find("Command::argv is empty"), std::string::npos);
  EXPECT_NE(refusal_of(Command{{""}}).find("Command::argv[0] is empty"), std::string::npos);
  EXPECT_NE(refusal_of(Command{{"./tool"}}).find("give an absolute path, or a bare name"), std::string::npos);
  EXPECT_NE(refusal_of(Command{{"tool", std::string("x\0y", 3)}}).find("Command::argv[1] holds a NUL byte"),
            std::string::npos);
  Command variable{{"tool"}};
  variable.environment = {{"", "x"}};
  EXPECT_NE(refusal_of(variable).find("a name must be non-empty"), std::string::npos);
  Command directory{{"tool"}};
  directory.working_directory = "work";
  EXPECT_NE(refusal_of(directory).find("not an absolute path"), std::string::npos);
  EXPECT_EQ(refusal_of(Command{{"tool"}}), "") << "a bare name is looked up in PATH by pihost";
  for (const auto& message : {refusal_of(Command{}), refusal_of(directory)}) {
    EXPECT_NE(message.find("nothing was run"), std::string::npos) << message;
  }
}

TEST(CheckedRun, TheStrictProfileRefusesAProgramOrADirectoryItDoesNotShow) {
  test::TempDir root;
  std::filesystem::create_directories(root.path() / "shown");
  const std::vector<std::filesystem::path> shown{root.path() / "shown"};
  EXPECT_EQ(refusal_of(Command{{(root.path() / "shown" / "tool").string()}}, shown), "");
  EXPECT_NE(refusal_of(Command{{(root.path() / "hidden" / "tool").string()}}, shown)
                .find("Options::hardening.plugin_directories"),
            std::string::npos);
  Command elsewhere{{"tool"}};
  elsewhere.working_directory = (root.path() / "hidden").string();
  EXPECT_NE(refusal_of(elsewhere, shown).find("outside the directories"), std::string::npos);
}

TEST(CheckedRun, AMessageLargerThanTheFrameIsRefusedBeforeAnythingIsSent) {
  Command command{{"cat"}};
  command.input = std::string(5000, 'x');
  const auto run = checked_run(command, std::nullopt, {});
  EXPECT_NO_THROW(run_frame(run, 8192));
  try {
    run_frame(run, 4096);
    ADD_FAILURE() << "not refused";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("Command::input is 5000 bytes"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace isolator::detail
