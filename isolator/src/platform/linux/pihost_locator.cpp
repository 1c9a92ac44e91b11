#include "pihost_locator.hpp"

#include <isolator/errors.hpp>

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace isolator::detail {
namespace {

// Why `path` cannot be run as pihost ("does not exist", "is a directory", "is not
// executable", each with the errno text where there is one), or empty when it can.
std::string refusal(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    const std::string text = std::strerror(error);
    return error == ENOENT ? "does not exist (" + text + ")" : "cannot be inspected: " + text;
  }
  if (S_ISDIR(st.st_mode)) return "is a directory, not the pihost executable";
  if (!S_ISREG(st.st_mode)) return "is not a regular file";
  if (::access(path.c_str(), X_OK) != 0) return std::string("is not executable: ") + std::strerror(errno);
  return {};
}

// The pihost installed with this library: PREFIX/libexec/isolator/pihost, where PREFIX is
// the parent of the directory of the binary that holds this code (the shared library in
// PREFIX/lib, or the executable in PREFIX/bin that linked the static one).
std::filesystem::path installed_pihost() {
#ifdef ISOLATOR_INSTALLED_PIHOST
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&installed_pihost), &info) == 0 || info.dli_fname == nullptr)
    return {};
  std::error_code error;
  const auto binary = std::filesystem::canonical(info.dli_fname, error);
  if (error) return {};
  return binary.parent_path().parent_path() / ISOLATOR_INSTALLED_PIHOST;
#else
  return {};
#endif
}

std::filesystem::path running_executable_dir() {
  std::error_code error;
  auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : self.parent_path();
}

}  // namespace

std::filesystem::path locate_pihost(const std::filesystem::path& configured) {
  // An explicit choice is the only candidate: falling back silently would run another pihost
  // than the one asked for, and hide the mistake.
  const auto explicit_choice = [](const std::filesystem::path& path, const std::string& source,
                                  const std::string& fix) {
    const std::string why = refusal(path);
    if (why.empty()) return std::filesystem::absolute(path);
    throw StartError("cannot use " + source + " as pihost: '" + path.string() + "' " + why + "; " + fix);
  };
  if (!configured.empty()) {
    return explicit_choice(configured, "Options::pihost_path",
                           "set Options::pihost_path to the pihost executable, or leave it empty to "
                           "let the library find one ($ISOLATOR_PIHOST, then the pihost installed with it)");
  }
  if (const char* env = std::getenv("ISOLATOR_PIHOST"); env != nullptr && env[0] != '\0') {
    return explicit_choice(env, "$ISOLATOR_PIHOST",
                           "set ISOLATOR_PIHOST to the pihost executable, or unset it (an empty value "
                           "counts as unset) to let the library find its own pihost");
  }
  std::vector<std::pair<std::string, std::filesystem::path>> candidates;
  if (auto installed = installed_pihost(); !installed.empty()) {
    candidates.emplace_back("installed with the library", installed);
  }
  if (auto dir = running_executable_dir(); !dir.empty()) {
    candidates.emplace_back("next to the running executable", dir / "pihost");
  }
#ifdef ISOLATOR_INSTALL_PREFIX_PIHOST
  // A program installed elsewhere that linked the static library: the prefix the library
  // was built for (after the places nearer the program, so that a build tree's own pihost
  // wins over an older installed one).
  candidates.emplace_back("the install prefix", ISOLATOR_INSTALL_PREFIX_PIHOST);
#endif
#ifdef ISOLATOR_BUILD_TREE_PIHOST
  candidates.emplace_back("the build tree", ISOLATOR_BUILD_TREE_PIHOST);
#endif
  std::string tried;
  for (const auto& [where, path] : candidates) {
    const std::string why = refusal(path);
    if (why.empty()) return std::filesystem::absolute(path);
    tried += "\n  " + path.string() + " (" + where + "): " + why;
  }
  throw StartError("cannot find an executable pihost; looked at:" + tried +
                   "\nset Options::pihost_path or ISOLATOR_PIHOST to the pihost executable");
}

}  // namespace isolator::detail
