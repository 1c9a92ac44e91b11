// loadable_library() (call_check.hpp): which library paths the strict profile lets a call
// send, and at which path. Made-up directories under a fresh temporary one; no child.
#include "call_check.hpp"
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
