// A start that cannot succeed fails with an error that says why.
#include "test_support.hpp"

#include <isolator/wire/protocol.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

namespace isolator {
namespace {

std::string start_error(const Options& options) {
  try {
    ProcessIsolator::create(options);
  } catch (const StartError& e) {
    return e.what();
  }
  return "(no StartError)";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << text << "\nshould contain: " << part;
}

TEST(StartError, MissingPihostNamesThePath) {
  Options options = test::options();
  options.pihost_path = "/nonexistent/pihost";
  const auto error = start_error(options);
  expect_contains(error, "/nonexistent/pihost");
  expect_contains(error, "No such file or directory");
  expect_contains(error, "ISOLATOR_PIHOST");
}

TEST(StartError, NonExecutablePihostNamesThePath) {
  test::TempDir dir;
  const auto path = dir.path() / "pihost";
  std::ofstream(path) << "not a program\n";
  Options options = test::options();
  options.pihost_path = path;
  const auto error = start_error(options);
  expect_contains(error, path.string());
  expect_contains(error, "not executable");
}

TEST(StartError, VersionMismatchNamesBothVersions) {
  const auto error = start_error(test::fake_options("wrong_version"));
  expect_contains(error, "protocol version 999");
  expect_contains(error, "this library speaks version " + std::to_string(wire::protocol_version));
}

TEST(StartError, SilentChildTimesOut) {
  Options options = test::fake_options("silent");
  options.start_timeout = std::chrono::milliseconds(300);
  expect_contains(start_error(options), "did not complete its handshake within 300 ms");
}

TEST(StartError, ChildExitingEarlyReportsItsCodeAndStderr) {
  const auto error = start_error(test::fake_options("exit_early"));
  expect_contains(error, "exited with code 7 before completing its handshake");
  expect_contains(error, "fake_pihost: exiting early on purpose");
}

TEST(StartError, APeerThatIsNotTheSpawnedChildIsRefused) {
  Options options = test::fake_options("impostor");
  options.start_timeout = std::chrono::milliseconds(500);
  const auto error = start_error(options);
  expect_contains(error, "did not complete its handshake");
  expect_contains(error, "connections refused because they did not come from pihost");
}

TEST(StartError, InvalidOptionsThrowOptionsError) {
  Options options = test::options();
  options.start_timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
  options = test::options();
  options.inherit_environment.push_back("A=B");
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
  options = test::options();
  options.limits.memory_bytes = 1000;
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
  options = test::options();
  options.limits.cpu_affinity = {-1};
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
  options = test::options();  // a heartbeat checked once per second cannot time out in 0.5 s
  options.supervision.heartbeat_timeout = std::chrono::milliseconds(500);
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
  options = test::options();  // a window of zero would forget every restart: no limit at all
  options.supervision.restart_window = std::chrono::milliseconds(0);
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
  options = test::options();
  options.supervision.backoff_initial = std::chrono::milliseconds(-1);
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
  options = test::options();
  options.supervision.backoff_max = options.supervision.backoff_initial / 2;
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
}

TEST(StartError, NoChildOrDirectoryIsLeftAfterAFailedStart) {
  test::TempDir tmp;
  std::optional<test::ScopedTmpdir> in_tmp(std::in_place, tmp.path());
  Options options = test::fake_options("silent");
  options.start_timeout = std::chrono::milliseconds(200);
  start_error(options);
  in_tmp.reset();
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

}  // namespace
}  // namespace isolator

namespace isolator {
namespace {

// Sets an environment variable for a test's duration.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) previous_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (previous_) {
      ::setenv(name_, previous_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> previous_;
};

// $ISOLATOR_PIHOST is an explicit choice, as Options::pihost_path is: a bad one fails the
// start, naming the variable, its value, what is wrong and the fix, instead of being passed
// over for another pihost.
Options without_pihost_path() {
  Options options = test::options();
  options.pihost_path.clear();
  return options;
}

void expect_names_isolator_pihost(const std::string& error, const std::string& value,
                                  const std::string& wrong) {
  expect_contains(error, "cannot use $ISOLATOR_PIHOST as pihost: '" + value + "' " + wrong);
  expect_contains(error, "set ISOLATOR_PIHOST to the pihost executable, or unset it");
}

TEST(StartError, IsolatorPihostNamingAMissingFileFailsTheStart) {
  test::TempDir dir;
  const auto missing = (dir.path() / "no-such-pihost").string();
  ScopedEnv env("ISOLATOR_PIHOST", missing);
  expect_names_isolator_pihost(start_error(without_pihost_path()), missing,
                               "does not exist (No such file or directory)");
}

TEST(StartError, IsolatorPihostNamingANonExecutableFileFailsTheStart) {
  test::TempDir dir;
  const auto path = dir.path() / "pihost";
  std::ofstream(path) << "not a program\n";
  std::filesystem::permissions(path,
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ScopedEnv env("ISOLATOR_PIHOST", path.string());
  expect_names_isolator_pihost(start_error(without_pihost_path()), path.string(), "is not executable");
}

TEST(StartError, IsolatorPihostNamingADirectoryFailsTheStart) {
  test::TempDir dir;  // mode 0700: executable (searchable), which must not pass for pihost
  ScopedEnv env("ISOLATOR_PIHOST", dir.path().string());
  expect_names_isolator_pihost(start_error(without_pihost_path()), dir.path().string(), "is a directory");
}

TEST(StartError, IsolatorPihostIsTheOneRun) {
  // The fake pihost in exit_early mode says so on stderr: the start error quotes it.
  Options options = test::fake_options("exit_early");
  options.pihost_path.clear();
  ScopedEnv env("ISOLATOR_PIHOST", test::fake_pihost());
  expect_contains(start_error(options), "fake_pihost: exiting early on purpose");
}

TEST(StartError, AnEmptyIsolatorPihostCountsAsUnset) {
  ScopedEnv env("ISOLATOR_PIHOST", "");
  EXPECT_EQ(start_error(without_pihost_path()), "(no StartError)");
}

TEST(StartError, OptionsPihostPathWinsOverIsolatorPihost) {
  test::TempDir dir;
  ScopedEnv env("ISOLATOR_PIHOST", (dir.path() / "no-such-pihost").string());
  EXPECT_EQ(start_error(test::options()), "(no StartError)");
}

TEST(StartError, AChannelPathTooLongForAUnixSocketFailsCleanlyAndSaysWhatToDo) {
  test::TempDir dir;
  std::filesystem::path deep = dir.path();
  while (deep.native().size() < 120) deep /= "a-rather-long-directory-name";
  std::filesystem::create_directories(deep);
  ScopedEnv xdg("XDG_RUNTIME_DIR", deep.string());  // read first
  try {
    ProcessIsolator::create(test::options());
    FAIL() << "a channel path longer than sun_path was accepted";
  } catch (const StartError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("more than a Unix socket path may be (107)"), std::string::npos) << message;
    EXPECT_NE(message.find("set TMPDIR or XDG_RUNTIME_DIR"), std::string::npos) << message;
  }
  // What may stay is isolatorctl's records directory, $XDG_RUNTIME_DIR/isolator: the user's,
  // made once and kept (docs/isolatorctl.md), and empty here.
  for (const auto& entry : std::filesystem::directory_iterator(deep)) {
    EXPECT_EQ(entry.path().filename(), "isolator") << "the private directory was left behind";
    EXPECT_TRUE(std::filesystem::is_empty(entry.path())) << "a record of an isolator that never started";
  }
}

// Owned by the user pihost runs as: the host's own, or under a root host the sandbox user's
// (Options::protection.root_host_uid), when that user can reach it.
TEST(StartError, ThePrivateDirectoryIsMode0700AndOwnedByTheUserPihostRunsAs) {
  test::TempDir dir;
  ScopedEnv xdg("XDG_RUNTIME_DIR", dir.path().string());
  const auto options = test::options();
  auto isolator = ProcessIsolator::create(options);
  const bool other_user = ::geteuid() == 0 && test::other_uid_unavailable().empty();
  const uid_t pihost_user = other_user ? options.protection.root_host_uid : ::geteuid();
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    struct stat st {};
    ASSERT_EQ(::lstat(entry.path().c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << entry.path();
    EXPECT_EQ(st.st_mode & 0777, 0700u) << entry.path();
    // Beside it, isolatorctl's records directory (docs/isolatorctl.md): the host user's own.
    if (entry.path().filename() == "isolator") {
      EXPECT_EQ(st.st_uid, ::geteuid()) << entry.path();
      continue;
    }
    EXPECT_EQ(st.st_uid, pihost_user) << entry.path();
    ++found;
  }
  EXPECT_EQ(found, 1) << "one private directory, made under XDG_RUNTIME_DIR";
}

}  // namespace
}  // namespace isolator

namespace isolator {
namespace {

// The channel is a socket file in the 0700 private directory, which only the host's user can
// reach; never an abstract socket, which any process of the network namespace could connect to.
TEST(StartError, TheChannelIsASocketFileInThePrivateDirectoryNeverAnAbstractSocket) {
  test::TempDir dir;
  ScopedEnv xdg("XDG_RUNTIME_DIR", dir.path().string());
  auto isolator = ProcessIsolator::create(test::options());
  std::ifstream table("/proc/net/unix");
  std::string line;
  int in_private_directory = 0;
  while (std::getline(table, line)) {
    if (line.find(dir.path().string()) != std::string::npos) ++in_private_directory;
    EXPECT_EQ(line.find("@isolator"), std::string::npos) << line;
  }
  EXPECT_GE(in_private_directory, 1) << "no listening socket under " << dir.path();
}

}  // namespace
}  // namespace isolator
