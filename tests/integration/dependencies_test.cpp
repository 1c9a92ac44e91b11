// A plugin's own libraries: found beside it and in the library search path, before the
// system's, with no RUNPATH in the plugin and without changing the environment of what the
// plugin starts; a missing one is dependency_not_found, naming it and where it was looked for.
//
// The test libraries are built without RUNPATH (tests/CMakeLists.txt): libplugin_uses_deps.so
// needs libdep_middle.so, which needs libdep_deep.so; libplugin_uses_unnamed.so needs
// libdep_unnamed.so, which has no SONAME. Each test copies them into the layout it needs.
#include "../support/temp_dir.hpp"
#include "../support/test_support.hpp"

#include <isolator/errors.hpp>
#include <isolator/isolator.hpp>
#include <isolator/probe.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

namespace isolator {
namespace {

namespace fs = std::filesystem;
using test::plugin;
using test::TempDir;

std::string dependency(const std::string& name) {
  return test::built(std::string(ISOLATOR_TEST_PLUGIN_DIR) + "/dependencies/libdep_" + name + ".so");
}

// Copies `from` into `directory` under its own file name; returns the copy's path.
std::string put(const std::string& from, const fs::path& directory) {
  const fs::path to = directory / fs::path(from).filename();
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  return to.string();
}

std::string output_of(const CallResult& result) {
  std::string text;
  for (const auto& line : result.output) text += line.text + "\n";
  return text;
}

TEST(Dependencies, ThoseBesideThePluginAreFoundWithoutARunpath) {
  TempDir dir;
  const std::string library = put(plugin("uses_deps"), dir.path());
  put(dependency("middle"), dir.path());
  put(dependency("deep"), dir.path());  // needed by libdep_middle.so, not by the plugin
  auto isolator = ProcessIsolator::create(test::options());
  const auto result = isolator->invoke(library, "method", {});
  ASSERT_TRUE(result.ok()) << result.failure->message;
  EXPECT_EQ(*result.code, 42);
}

TEST(Dependencies, OneWithoutASonameIsFoundByItsFileName) {
  TempDir dir;
  const std::string library = put(plugin("uses_unnamed"), dir.path());
  put(dependency("unnamed"), dir.path());
  auto isolator = ProcessIsolator::create(test::options());
  const auto result = isolator->invoke(library, "method", {});
  ASSERT_TRUE(result.ok()) << result.failure->message;
  EXPECT_EQ(*result.code, 7);
}

TEST(Dependencies, OnesInTheOptionsSearchPathAreFound) {
  TempDir plugins;
  TempDir deps;
  const std::string library = put(plugin("uses_deps"), plugins.path());
  put(dependency("middle"), deps.path());
  put(dependency("deep"), deps.path());
  Options options = test::options();
  options.library_search_path = {deps.path()};
  auto isolator = ProcessIsolator::create(options);
  const auto result = isolator->invoke(library, "method", {});
  ASSERT_TRUE(result.ok()) << result.failure->message;
  EXPECT_EQ(*result.code, 42);
}

TEST(Dependencies, OnesInTheCallsSearchPathAreFoundForThatCall) {
  TempDir plugins;
  TempDir deps;
  const std::string library = put(plugin("uses_deps"), plugins.path());
  put(dependency("middle"), deps.path());
  put(dependency("deep"), deps.path());
  auto isolator = ProcessIsolator::create(test::options());
  CallOptions call;
  call.library_search_path = {deps.path()};
  const auto found = isolator->invoke(Invocation{library, "method", {}, call});
  ASSERT_TRUE(found.ok()) << found.failure->message;
  EXPECT_EQ(*found.code, 42);
}

TEST(Dependencies, AMissingOneIsDependencyNotFoundNamingItAndWhereItWasLookedFor) {
  TempDir plugins;
  TempDir elsewhere;
  const std::string library = put(plugin("uses_deps"), plugins.path());
  put(dependency("middle"), plugins.path());  // found; what it needs, libdep_deep.so, is not
  Options options = test::options();
  options.library_search_path = {elsewhere.path()};
  auto isolator = ProcessIsolator::create(options);
  const auto result = isolator->invoke(library, "method", {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->kind, FailureKind::dependency_not_found) << result.failure->message;
  const std::string& message = result.failure->message;
  EXPECT_NE(message.find("needs 'libdep_deep.so'"), std::string::npos) << message;
  EXPECT_NE(message.find("through '" + (plugins.path() / "libdep_middle.so").string() + "'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("'" + plugins.path().string() + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("'" + elsewhere.path().string() + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("Options::library_search_path"), std::string::npos) << message;

  // The child is fine, and once the library is there the same call works.
  put(dependency("deep"), elsewhere.path());
  const auto again = isolator->invoke(library, "method", {});
  ASSERT_TRUE(again.ok()) << again.failure->message;
  EXPECT_EQ(*again.code, 42);
}

// An isolator with Supervision::spare_child (no backoff) whose spare is ready; null when
// none was within 20 s.
std::unique_ptr<ProcessIsolator> with_a_ready_spare() {
  Options options = test::options();
  options.supervision.spare_child = true;
  options.supervision.backoff_initial = std::chrono::milliseconds(0);
  auto spares = std::make_shared<std::atomic<int>>(0);
  options.on_event = [spares](const Event& event) {
    if (const auto* started = std::get_if<StartedEvent>(&event); started && started->spare) ++*spares;
  };
  auto isolator = ProcessIsolator::create(options);
  if (!isolator->invoke(plugin("args"), "echo", {"1"}).ok()) return nullptr;
  for (int i = 0; i < 10'000 && *spares == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return *spares == 1 ? std::move(isolator) : nullptr;
}

// A copy of libplugin_uses_deps.so in `dir`, with libdep_middle.so beside it but not the
// libdep_deep.so that one needs.
std::string missing_deep_in(const fs::path& dir) {
  const std::string library = put(plugin("uses_deps"), dir);
  put(dependency("middle"), dir);
  return library;
}

// Crashes the child in service (pid `before`), then calls `library`, which lacks
// libdep_deep.so, on the spare that takes over: nothing may give it one (`why` not).
void expect_the_spare_lacks_deep(ProcessIsolator& isolator, const std::string& library, int before,
                                 const char* why) {
  ASSERT_EQ(isolator.invoke(plugin("segv"), "method", {}).failure->kind, FailureKind::crashed);
  const auto result = isolator.invoke(library, "method", {});
  ASSERT_FALSE(result.ok()) << "the spare loaded libdep_deep.so " << why;
  EXPECT_EQ(result.failure->kind, FailureKind::dependency_not_found) << result.failure->message;
  EXPECT_NE(result.pid, before);
}

// Each child links its plugins' libraries into a directory of its own: a spare, started
// while the child in service still links, must not find those links once it takes over.
TEST(Dependencies, ASpareDoesNotLoadWhatTheChildBeforeItLinked) {
  TempDir first;
  TempDir second;
  const std::string complete = put(plugin("uses_deps"), first.path());
  put(dependency("middle"), first.path());
  put(dependency("deep"), first.path());
  const std::string incomplete = missing_deep_in(second.path());
  auto isolator = with_a_ready_spare();
  ASSERT_TRUE(isolator) << "no spare started";
  const auto linked = isolator->invoke(complete, "method", {});  // links libdep_deep.so from `first`
  ASSERT_TRUE(linked.ok()) << linked.failure->message;
  expect_the_spare_lacks_deep(*isolator, incomplete, linked.pid, "through the links of the child before it");
}

// A plugin runs as the same user as the spare waiting beside its child, and can write into
// the spare's links directory; what it plants there is removed before the spare takes over.
TEST(Dependencies, LinksAPluginPlantedForTheSpareAreGoneWhenItTakesOver) {
  TempDir first;
  TempDir second;
  const std::string deep = put(dependency("deep"), first.path());
  const std::string incomplete = missing_deep_in(second.path());
  auto isolator = with_a_ready_spare();
  ASSERT_TRUE(isolator) << "no spare started";
  const auto planted = isolator->invoke(plugin("inspect"), "plant_links", {deep, "libdep_deep.so"});
  ASSERT_TRUE(planted.ok()) << planted.failure->message;
  ASSERT_GE(*planted.code, 2) << "its own links directory and the spare's";
  expect_the_spare_lacks_deep(*isolator, incomplete, planted.pid, "through a link the plugin planted");
}

TEST(Dependencies, APluginThatIsMissingStaysLibraryNotFound) {
  TempDir dir;
  auto isolator = ProcessIsolator::create(test::options());
  const auto result = isolator->invoke((dir.path() / "libnothing.so").string(), "method", {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.failure->kind, FailureKind::library_not_found) << result.failure->message;
}

TEST(Dependencies, TheEnvironmentOfThePluginAndOfWhatItStartsIsTheHostsChoice) {
  TempDir dir;
  const std::string library = put(plugin("uses_deps"), dir.path());
  put(dependency("middle"), dir.path());
  put(dependency("deep"), dir.path());
  const std::string probe = plugin("strict");  // its `sh` runs a shell command
  {
    // Not set by the host: unset in pihost and in a shell the plugin starts.
    auto isolator = ProcessIsolator::create(test::options());
    ASSERT_TRUE(isolator->invoke(library, "method", {}).ok());
    const auto seen = isolator->invoke(probe, "sh", {"echo \"[${LD_LIBRARY_PATH-unset}]\""});
    ASSERT_TRUE(seen.ok()) << output_of(seen);
    EXPECT_EQ(output_of(seen), "[unset]\n");
    const auto own = isolator->invoke(plugin("inspect"), "get_env", {"LD_LIBRARY_PATH"});
    EXPECT_EQ(own.code, 0) << output_of(own);
  }
  {
    // Set by the host: exactly its value.
    Options options = test::options();
    options.environment.emplace_back("LD_LIBRARY_PATH", "/opt/the-hosts-choice");
    auto isolator = ProcessIsolator::create(options);
    ASSERT_TRUE(isolator->invoke(library, "method", {}).ok());
    const auto seen = isolator->invoke(probe, "sh", {"echo \"[$LD_LIBRARY_PATH]\""});
    ASSERT_TRUE(seen.ok()) << output_of(seen);
    EXPECT_EQ(output_of(seen), "[/opt/the-hosts-choice]\n");
  }
}

TEST(Dependencies, TheSearchPathMustBeAbsolute) {
  Options options = test::options();
  options.library_search_path = {"relative/deps"};
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);

  auto isolator = ProcessIsolator::create(test::options());
  CallOptions call;
  call.library_search_path = {"relative/deps"};
  EXPECT_THROW(isolator->invoke(Invocation{plugin("args"), "method", {}, call}), Error);
  EXPECT_TRUE(isolator->invoke(plugin("args"), "method", {}).ok()) << "the isolator still works";
}

TEST(Dependencies, TheStrictProfileFindsThemInAPluginDirectoryAndRefusesASearchPathOutside) {
  for (const auto& check : probe(test::options()).hardening) {
    if (check.limit == "strict" && !check.enforceable) GTEST_SKIP() << "no strict profile here: " << check.how;
  }
  TempDir plugins;
  TempDir outside;
  const std::string library = put(plugin("uses_deps"), plugins.path());
  put(dependency("middle"), plugins.path());
  put(dependency("deep"), plugins.path());
  Options options = test::options();
  options.hardening.strict = true;
  options.hardening.plugin_directories = {plugins.path()};
  {
    auto isolator = ProcessIsolator::create(options);
    const auto result = isolator->invoke(library, "method", {});
    ASSERT_TRUE(result.ok()) << result.failure->message;
    EXPECT_EQ(*result.code, 42);
    CallOptions call;
    call.library_search_path = {outside.path()};
    EXPECT_THROW(isolator->invoke(Invocation{library, "method", {}, call}), Error);
  }
  options.library_search_path = {outside.path()};
  EXPECT_THROW(ProcessIsolator::create(options), OptionsError);
}

}  // namespace
}  // namespace isolator
