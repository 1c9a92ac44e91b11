// Options::hardening.strict, the strict profile: what the child sees of the host's files, what
// it may write, its network and host name, the seccomp allow-list, the check of a call's
// library on the host, and the options' errors. The attacks it refuses are in
// sandbox_test.cpp (SandboxRefuses/.../strict), with the ordinary work it allows.
#include "test_support.hpp"

#include "platform/linux/records/record_directory.hpp"

#include <gtest/gtest.h>

#include <isolator/probe.hpp>

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace isolator {
namespace {

namespace fs = std::filesystem;
using test::plugin;

// Why the strict profile cannot be made here (probe() tries it), or empty.
std::string strict_unavailable() {
  for (const auto& check : probe(test::options()).hardening) {
    if (check.limit == "strict") return check.enforceable ? "" : check.how;
  }
  return "probe() does not report the strict profile";
}

#define SKIP_WITHOUT_STRICT()                                \
  do {                                                       \
    if (const auto why = strict_unavailable(); !why.empty()) \
      GTEST_SKIP() << "no strict profile here: " << why;     \
  } while (false)

Options strict_options() {
  auto options = test::options();
  options.hardening.strict = true;
  options.hardening.plugin_directories = {fs::path(plugin("strict")).parent_path()};
  return options;
}

std::string output_of(const CallResult& result) {
  std::string text;
  for (const auto& line : result.output) text += line.text + "\n";
  return text;
}

std::string describe(const CallResult& result) {
  return (result.ok() ? "returned " + std::to_string(*result.code)
                      : std::string(to_string(result.failure->kind)) + ": " + result.failure->message) +
         "\n" + output_of(result);
}

int code_of(ProcessIsolator& isolator, const std::string& method, std::vector<std::string> args = {}) {
  const auto result = isolator.invoke(plugin("strict"), method, std::move(args));
  EXPECT_TRUE(result.ok()) << describe(result);
  return result.ok() ? *result.code : -1000;
}

// Its own /tmp and /dev/shm keep their pages in memory, where the rlimit backend does not
// count them: each is as large as the memory limit.
TEST(StrictProfile, ItsTmpAndDevShmAreAsLargeAsItsMemoryLimit) {
  SKIP_WITHOUT_STRICT();
  auto options = strict_options();
  // RLIMIT_AS counts address space: pihost needs room for its libraries and stacks.
  options.limits.memory_bytes = std::uint64_t{512} << 20;
  if (const auto why = test::sanitizer_forbids_memory_limit(options); !why.empty()) GTEST_SKIP() << why;
  auto isolator = ProcessIsolator::create(options);
  for (const std::string path : {"/tmp", "/dev/shm"}) {
    const auto r = isolator->invoke(plugin("inspect"), "filesystem_size", {path});
    ASSERT_TRUE(r.ok()) << describe(r);
    ASSERT_EQ(*r.code, 1) << path;
    ASSERT_EQ(r.output.size(), 1u) << path;
    EXPECT_EQ(r.output[0].text, std::to_string(std::uint64_t{512} << 20)) << path;
  }
}

TEST(StrictProfile, ShowsOnlyTheSystemsFilesThePluginsDirectoryAndItsOwn) {
  SKIP_WITHOUT_STRICT();
  test::TempDir secret_place;
  std::ofstream(secret_place.path() / "secret") << "the host's\n";
  auto isolator = ProcessIsolator::create(strict_options());
  const std::vector<std::string> shown{
      "/usr/bin/env", "/bin/sh",           "/etc/passwd", "/etc/ld.so.cache", "/dev/null",
      "/dev/urandom", "/proc/self/status", "/tmp",        test::pihost(),     plugin("attack")};
  auto result = isolator->invoke(plugin("strict"), "visible", shown);
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(*result.code, static_cast<int>(shown.size())) << describe(result);

  // Of these, those on the way to what is shown (a build tree under /home) are not hidden.
  std::vector<std::string> hidden;
  for (const std::string path : {"/root", "/home", "/var", "/srv", "/sys", "/run", "/opt", "/boot", "/mnt"}) {
    const auto on_the_way = [&](const fs::path& shown_path) {
      const auto relative = fs::weakly_canonical(shown_path).lexically_relative(path);
      return !relative.empty() && *relative.begin() != "..";
    };
    // (the private directory is made under $XDG_RUNTIME_DIR when it is set, else the
    // temporary directory)
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    if (!on_the_way(test::pihost()) && !on_the_way(plugin("strict")) &&
        !on_the_way(fs::temp_directory_path()) &&
        !(runtime != nullptr && *runtime != '\0' && on_the_way(runtime)))
      hidden.push_back(path);
  }
  hidden.insert(hidden.end(), {"/etc/shadow", "/etc/hostname", (secret_place.path() / "secret").string()});
  result = isolator->invoke(plugin("strict"), "visible", hidden);
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(*result.code, 0) << describe(result);
}

TEST(StrictProfile, TheRootIsReadOnlyAndTmpIsPrivate) {
  SKIP_WITHOUT_STRICT();
  auto isolator = ProcessIsolator::create(strict_options());
  EXPECT_EQ(code_of(*isolator, "create_in_root"), EROFS) << "/ is a read-only mount";
  const std::string name = "isolator-strict-" + std::to_string(::getpid());
  EXPECT_EQ(code_of(*isolator, "private_tmp", {name}), 0) << "/tmp is writable";
  EXPECT_FALSE(fs::exists(fs::path("/tmp") / name)) << "the child's /tmp is its own, not the host's";
  EXPECT_EQ(code_of(*isolator, "visible", {"/tmp/" + name}), 1) << "and it keeps what the plugin wrote";
}

// The records isolatorctl reads (docs/isolatorctl.md) name every isolate of the user, its
// pids and executable: a plugin must neither read them nor write one.
TEST(StrictProfile, HidesTheRecordsIsolatorctlReads) {
  SKIP_WITHOUT_STRICT();
  auto isolator = ProcessIsolator::create(strict_options());  // publishes where isolatorctl looks
  const fs::path records = detail::records::directory();
  std::vector<std::string> published;
  std::error_code error;
  for (fs::directory_iterator it(records, error), end; !error && it != end; it.increment(error)) {
    published.push_back(it->path().string());
  }
  if (published.empty()) GTEST_SKIP() << "nothing was published in " << records << " (refused: see the log)";
  published.push_back(records.string());
  const auto result = isolator->invoke(plugin("strict"), "visible", published);
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(*result.code, 0) << describe(result);
}

TEST(StrictProfile, HasNetworkUtsAndIpcNamespacesOfItsOwnWithOnlyALoopback) {
  SKIP_WITHOUT_STRICT();
  auto isolator = ProcessIsolator::create(strict_options());
  for (const std::string name : {"net", "uts", "ipc"}) {
    const auto result = isolator->invoke(plugin("strict"), "ns", {name});
    ASSERT_TRUE(result.ok() && *result.code == 0) << describe(result);
    const auto host = fs::read_symlink("/proc/self/ns/" + name).string();
    EXPECT_NE(output_of(result), host + "\n") << name << ": the host's namespace";
  }
  const auto result = isolator->invoke(plugin("strict"), "interfaces", {});
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(*result.code, 1) << describe(result);
  EXPECT_EQ(output_of(result), "lo\n");
}

TEST(StrictProfile, ThreadsAndProgramsWorkUnderTheAllowList) {
  SKIP_WITHOUT_STRICT();
  auto isolator = ProcessIsolator::create(strict_options());
  EXPECT_EQ(code_of(*isolator, "threads", {"8"}), 0);
  EXPECT_EQ(code_of(*isolator, "shell", {"7"}), 7) << "/bin/sh ran, and exited 7";
}

// mkfifo is mknodat, off the list: refused in the plugin and in a program it starts.
TEST(StrictProfile, ACallOffTheAllowListFailsWithEpermUntilAllowedInThePluginAndItsPrograms) {
  SKIP_WITHOUT_STRICT();
  const std::string script = "mkfifo /tmp/isolator-strict-fifo && rm /tmp/isolator-strict-fifo";
  {
    auto isolator = ProcessIsolator::create(strict_options());
    EXPECT_EQ(code_of(*isolator, "make_fifo"), EPERM);
    EXPECT_NE(code_of(*isolator, "sh", {script}), 0) << "mkfifo(1) ran outside the filter";
  }
  auto options = strict_options();
  options.hardening.allow_syscalls = {"mknodat", "mknod"};
  auto isolator = ProcessIsolator::create(options);
  EXPECT_EQ(code_of(*isolator, "make_fifo"), 0);
  EXPECT_EQ(code_of(*isolator, "sh", {script}), 0);
}

TEST(StrictProfile, ALibraryOutsideThePluginDirectoriesIsRefusedBeforeAnythingRuns) {
  SKIP_WITHOUT_STRICT();
  test::TempDir elsewhere;
  const auto copy = elsewhere.path() / "libplugin_strict.so";
  fs::copy_file(plugin("strict"), copy);
  test::TempDir links;  // a plugin directory, holding a link to the copy
  const auto link = links.path() / "libplugin_strict.so";
  fs::create_symlink(copy, link);
  auto options = strict_options();
  options.hardening.plugin_directories.push_back(links.path());
  auto isolator = ProcessIsolator::create(options);
  const int pid = isolator->pid();
  try {
    isolator->invoke(copy.string(), "threads", {"1"});
    ADD_FAILURE() << "a library outside the plugin directories was called";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(copy.string()), std::string::npos) << message;
    EXPECT_NE(message.find("Options::hardening.plugin_directories"), std::string::npos) << message;
  }
  // A link inside a plugin directory to a library outside is judged by where it leads.
  EXPECT_THROW(isolator->invoke(link.string(), "threads", {"1"}), Error);
  // The child was never involved: it is the same one, and still works.
  EXPECT_EQ(isolator->pid(), pid);
  EXPECT_EQ(code_of(*isolator, "threads", {"1"}), 0);
  // A library of the system's is shown, so it may be called: it loads.
  void* libm = ::dlopen("libm.so.6", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(libm, nullptr) << "the test links libm";
  link_map* map = nullptr;
  ASSERT_EQ(::dlinfo(libm, RTLD_DI_LINKMAP, &map), 0);
  const std::string libm_path = map->l_name;
  ::dlclose(libm);
  const auto result = isolator->invoke(libm_path, "isolator_no_such_symbol", {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->kind, FailureKind::symbol_not_found) << libm_path << ": " << describe(result);
}

TEST(StrictProfile, ItsOptionsAreCheckedAtCreate) {
  SKIP_WITHOUT_STRICT();
  auto options = strict_options();
  options.protection.trusted_plugin = true;
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);

  options = test::options();
  options.hardening.plugin_directories = {"/usr"};
  try {
    ProcessIsolator::create(options);
    ADD_FAILURE() << "plugin_directories without strict was accepted";
  } catch (const OptionsError& e) {
    EXPECT_NE(std::string(e.what()).find("Options::hardening.strict"), std::string::npos) << e.what();
  }

  options = strict_options();
  options.hardening.allow_syscalls = {"no_such_call"};
  try {
    ProcessIsolator::create(options);
    ADD_FAILURE() << "an unknown system call name was accepted";
  } catch (const OptionsError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_call"), std::string::npos) << e.what();
  }

  options = strict_options();
  options.hardening.plugin_directories.emplace_back("/");
  try {
    ProcessIsolator::create(options);
    ADD_FAILURE() << "a plugin directory holding /tmp was accepted";
  } catch (const StartError& e) {
    EXPECT_NE(std::string(e.what()).find("holds /tmp"), std::string::npos) << e.what();
  }

  options = strict_options();
  options.hardening.plugin_directories.emplace_back("/no/such/isolator-directory");
  try {
    ProcessIsolator::create(options);
    ADD_FAILURE() << "a missing plugin directory was accepted";
  } catch (const StartError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/isolator-directory"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace isolator

namespace isolator {
namespace {

// run() under the strict profile: a program of the system's runs under the allow-list (its
// keeper too); one outside the directories the profile shows, or a working directory there,
// is refused when the call is made, as a library is.
TEST(StrictProfile, ProgramsRunUnderItAndOnesItHidesAreRefusedWhenMade) {
  SKIP_WITHOUT_STRICT();
  auto isolator = ProcessIsolator::create(strict_options());
  Command command{{"sh", "-c", "cat; echo \"$WHO\""}};
  command.input = "from stdin\n";
  command.environment = {{"WHO", "strict"}};
  const auto r = isolator->run(command);
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(output_of(r), "from stdin\nstrict\n");
  test::TempDir hidden;
  try {
    isolator->run({{(hidden.path() / "tool").string()}});
    ADD_FAILURE() << "a program outside the plugin directories was not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Options::hardening.plugin_directories"), std::string::npos) << e.what();
  }
  Command elsewhere{{"true"}};
  elsewhere.working_directory = hidden.path().string();
  EXPECT_THROW(isolator->run(elsewhere), Error);
  EXPECT_TRUE(isolator->run({{"true"}}).ok()) << "nothing was lost";
}

}  // namespace
}  // namespace isolator
