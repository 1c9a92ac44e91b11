// Options::protection: the default sandbox's shape as the host sees it (the child's PID
// namespace, its user, its view of the files), what probe() says of it, and what happens when a
// measure is missing. The attacks it refuses are in sandbox_test.cpp.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <isolator/probe.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace isolator {
namespace {

using test::plugin;

// The numbers of a line of /proc/PID/status ("Uid:", "NSpid:").
std::vector<long> status_numbers(int pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::vector<long> numbers;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) != 0) continue;
    std::istringstream in(line.substr(field.size()));
    for (long n = 0; in >> n;) numbers.push_back(n);
  }
  return numbers;
}

TEST(Protection, ProbeReportsTheSandboxAndUnderARootHostTheOtherUser) {
  const auto report = probe(test::options());
  ASSERT_FALSE(report.protection.empty());
  EXPECT_EQ(report.protection.at(0).limit, "sandbox");
  if (!report.protection.at(0).enforceable) {
    EXPECT_FALSE(report.protection.at(0).fix.empty());
  }
  const bool root = ::geteuid() == 0;
  EXPECT_EQ(report.protection.size(), root ? 2u : 1u);
  if (root) {
    EXPECT_EQ(report.protection.at(1).limit, "other-uid");
  }
  EXPECT_NE(report.to_text().find("protection (Options::protection, on by default)"), std::string::npos);
}

TEST(Protection, TrustedPluginsHaveNoProtectionToReport) {
  auto options = test::options();
  options.protection.trusted_plugin = true;
  const auto report = probe(options);
  EXPECT_TRUE(report.protection.empty());
  EXPECT_NE(report.to_text().find("off, the plugins are trusted"), std::string::npos);
}

TEST(Protection, PihostIsPid2OfItsOwnPidNamespaceAndTrustedItIsNot) {
  if (const auto why = test::sandbox_unavailable(); !why.empty()) GTEST_SKIP() << "no sandbox here: " << why;
  auto isolator = ProcessIsolator::create(test::options());
  const auto nspid = status_numbers(isolator->pid(), "NSpid:");
  ASSERT_EQ(nspid.size(), 2u) << "a PID namespace of its own";
  EXPECT_EQ(nspid[0], isolator->pid());
  EXPECT_EQ(nspid[1], 2) << "its init is 1";

  auto options = test::options();
  options.protection.trusted_plugin = true;
  auto trusted = ProcessIsolator::create(options);
  EXPECT_EQ(status_numbers(trusted->pid(), "NSpid:").size(), 1u);
}

TEST(Protection, UnderARootHostTheChildRunsAsTheSandboxUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "the host is not root: the child runs as the host's own user";
  if (const auto why = test::sandbox_unavailable(); !why.empty()) GTEST_SKIP() << "no sandbox here: " << why;
  if (const auto why = test::other_uid_unavailable(); !why.empty()) {
    GTEST_SKIP()
        << "the sandbox user cannot reach pihost here (Protection.AMissingMeasure… covers that case): "
        << why;
  }
  auto isolator = ProcessIsolator::create(test::options());
  const auto uids = status_numbers(isolator->pid(), "Uid:");
  ASSERT_FALSE(uids.empty());
  EXPECT_EQ(uids[0], 65534);
  // And the calls still work, in a working directory that user owns.
  const auto r = isolator->invoke(plugin("attack"), "write_files", {});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_EQ(*r.code, 0);
}

// A root host whose sandbox user cannot reach pihost: by default the child still runs, as
// root outside its namespace without capabilities, and the missing measure is logged; with
// Protection::require the start fails, naming the measure and the fix.
TEST(Protection, AMissingMeasureFailsTheStartOnlyWhenProtectionIsRequired) {
  if (::geteuid() != 0) GTEST_SKIP() << "other-uid is a measure of root hosts only";
  if (const auto why = test::sandbox_unavailable(); !why.empty()) GTEST_SKIP() << "no sandbox here: " << why;
  test::TempDir dir;
  const auto hidden = dir.path() / "root-only";
  std::filesystem::create_directory(hidden);
  std::filesystem::permissions(hidden, std::filesystem::perms::owner_all);
  std::filesystem::copy_file(test::pihost(), hidden / "pihost");
  auto options = test::options();
  options.pihost_path = hidden / "pihost";

  auto isolator = ProcessIsolator::create(options);
  EXPECT_EQ(status_numbers(isolator->pid(), "Uid:").at(0), 0) << "root outside, for want of another user";
  EXPECT_EQ(status_numbers(isolator->pid(), "NSpid:").size(), 2u) << "the rest of the sandbox stays";
  std::ifstream status("/proc/" + std::to_string(isolator->pid()) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      EXPECT_EQ(line, "CapEff:\t0000000000000000");
    }
  }
  isolator.reset();

  options.protection.require = true;
  try {
    ProcessIsolator::create(options);
    FAIL() << "the start should fail when protection is required";
  } catch (const StartError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("protection missing: other-uid"), std::string::npos) << message;
    EXPECT_NE(message.find("fix:"), std::string::npos) << message;
    EXPECT_NE(message.find("Options::protection.require"), std::string::npos) << message;
  }
}

// isolatorctl's records are out of a default-sandboxed plugin's sight, even inside /tmp,
// which the sandbox leaves writable (covered after /tmp is put back), and elsewhere.
TEST(Protection, TheRecordsIsolatorctlReadsAreHiddenFromThePlugin) {
  if (const auto why = test::sandbox_unavailable(); !why.empty()) GTEST_SKIP() << "no sandbox here: " << why;
  test::TempDir under_tmp;  // in the temporary directory, /tmp unless TMPDIR says otherwise
  for (const auto& records : {under_tmp.path() / "records", std::filesystem::path("/run/isolator-test-records-" +
                                                                                  std::to_string(::getpid()))}) {
    std::error_code error;
    if (records.parent_path() == "/run" && ::access("/run", W_OK) != 0) continue;  // not this user's to use
    Options options = test::options();
    options.records_directory = records;
    auto isolator = ProcessIsolator::create(options);
    std::vector<std::string> published;
    for (std::filesystem::directory_iterator it(records, error), end; !error && it != end; it.increment(error)) {
      published.push_back(it->path().string());
    }
    // The directory itself stays, empty: an empty read-only tmpfs covers it.
    ASSERT_FALSE(published.empty()) << "nothing was published in " << records;
    const auto result = isolator->invoke(plugin("strict"), "visible", published);
    ASSERT_TRUE(result.ok()) << result.failure->message;
    std::string seen;
    for (const auto& line : result.output) seen += line.text + "\n";
    EXPECT_EQ(*result.code, 0) << "the plugin saw the records:\n" << seen;
    isolator.reset();
    std::filesystem::remove_all(records, error);
  }
}

TEST(Protection, AWritablePathIsWritableAndTheRestOfTheHostsFilesAreNot) {
  if (const auto why = test::sandbox_unavailable(); !why.empty()) GTEST_SKIP() << "no sandbox here: " << why;
  // Outside /tmp, which stays writable in the sandbox.
  std::string pattern = "/var/tmp/isolator-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) GTEST_SKIP() << "cannot make a directory in /var/tmp";
  const std::filesystem::path base = pattern;
  struct RemoveAfter {
    std::filesystem::path path;
    ~RemoveAfter() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } remove_after{base};
  std::filesystem::permissions(base, std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
  const auto shared = base / "shared";
  const auto other = base / "other";
  std::filesystem::create_directory(shared);
  std::filesystem::create_directory(other);
  // Writable by the child's user whoever it is: only the mount decides.
  std::filesystem::permissions(shared, std::filesystem::perms::all);
  std::filesystem::permissions(other, std::filesystem::perms::all);
  auto options = test::options();
  options.protection.writable_paths = {shared};
  auto isolator = ProcessIsolator::create(options);
  const auto wrote = isolator->invoke(plugin("attack"), "create_file", {(shared / "made").string()});
  ASSERT_TRUE(wrote.ok()) << wrote.failure->message;
  EXPECT_EQ(*wrote.code, 0);
  EXPECT_TRUE(std::filesystem::exists(shared / "made"));
  const auto refused = isolator->invoke(plugin("attack"), "create_file", {(other / "made").string()});
  ASSERT_TRUE(refused.ok()) << refused.failure->message;
  EXPECT_NE(*refused.code, 0) << "a directory not in writable_paths is read-only";
  EXPECT_FALSE(std::filesystem::exists(other / "made"));
}

// The child's own /dev/shm keeps its pages in memory, where the rlimit backend does not
// count them: it is as large as the memory limit.
TEST(Protection, TheChildsOwnDevShmIsAsLargeAsItsMemoryLimit) {
  if (const auto why = test::sandbox_unavailable(); !why.empty()) GTEST_SKIP() << "no sandbox here: " << why;
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "this machine has no /dev/shm to cover";
  Options options = test::options();
  // RLIMIT_AS counts address space: pihost needs room for its libraries and stacks.
  options.limits.memory_bytes = std::uint64_t{512} << 20;
  if (const auto why = test::sanitizer_forbids_memory_limit(options); !why.empty()) GTEST_SKIP() << why;
  auto isolator = ProcessIsolator::create(options);
  const auto r = isolator->invoke(test::plugin("inspect"), "filesystem_size", {"/dev/shm"});
  ASSERT_TRUE(r.ok()) << r.failure->message;
  ASSERT_EQ(*r.code, 1);
  ASSERT_EQ(r.output.size(), 1u);
  EXPECT_EQ(r.output[0].text, std::to_string(std::uint64_t{512} << 20));
}

// A sandbox step that fails after the sandbox was made once is a passing condition, not a
// machine without the sandbox: here a writable path removed after the first start. The
// replacement child fails to start, naming the path (before, it ran without the sandbox).
TEST(Protection, ASandboxStepFailingAfterTheFirstStartNeverTurnsTheSandboxOff) {
  if (const auto why = test::sandbox_unavailable(); !why.empty()) GTEST_SKIP() << "no sandbox here: " << why;
  test::TempDir place;
  const auto writable = place.path() / "writable";
  std::filesystem::create_directory(writable);
  Options options = test::options();
  options.protection.writable_paths = {writable};
  options.supervision.max_restarts = 1;
  auto isolator = ProcessIsolator::create(options);
  ASSERT_TRUE(test::in_a_pid_namespace_of_its_own(isolator->pid()));
  std::filesystem::remove(writable);
  const auto crash = isolator->invoke(plugin("segv"), "method", {});
  ASSERT_FALSE(crash.ok());
  const auto next = isolator->invoke(plugin("args"), "echo", {"1"});
  if (next.ok()) {
    EXPECT_TRUE(test::in_a_pid_namespace_of_its_own(next.pid)) << "the replacement runs without the sandbox";
  } else {
    // Each restart failed naming the path; the isolator then gave up, and says why.
    EXPECT_TRUE(next.failure->kind == FailureKind::restart_limit || next.failure->kind == FailureKind::start_failed)
        << to_string(next.failure->kind) << ": " << next.failure->message;
    EXPECT_NE(next.failure->message.find(writable.string()), std::string::npos) << next.failure->message;
  }
}

TEST(Protection, AWritablePathThatDoesNotExistFailsTheStartNamingIt) {
  auto options = test::options();
  options.protection.writable_paths = {"/nonexistent/isolator-test"};
  try {
    ProcessIsolator::create(options);
    FAIL() << "the start should fail";
  } catch (const StartError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("Options::protection.writable_paths"), std::string::npos) << message;
    EXPECT_NE(message.find("/nonexistent/isolator-test"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace isolator
