// A start that cannot succeed fails with an error that says why.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>

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
  expect_contains(error, "this library speaks version 1");
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
