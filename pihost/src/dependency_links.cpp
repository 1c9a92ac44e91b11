#include "dependency_links.hpp"

#include "elf_needed.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <deque>
#include <set>

namespace pihost {
namespace {

constexpr const char* library_path_variable = "LD_LIBRARY_PATH";
// The walk reads at most this many files: a plugin's tree of dependencies is small, and a
// hostile one must not keep pihost reading.
constexpr std::size_t max_files = 256;

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

}  // namespace

void restore_environment(const std::string& links_directory) {
  if (links_directory.empty()) return;
  const char* value = std::getenv(library_path_variable);
  if (value == nullptr) return;
  const std::string current = value;
  if (current == links_directory) {
    ::unsetenv(library_path_variable);
  } else if (current.size() > links_directory.size() && current.compare(0, links_directory.size(), links_directory) == 0 &&
             current[links_directory.size()] == ':') {
    ::setenv(library_path_variable, current.substr(links_directory.size() + 1).c_str(), 1);
  }
}

void DependencyLinks::prepare(const std::string& library, const std::vector<std::string>& search_path) {
  needed_by_.clear();
  const std::string plugin_directory = directory_of(library);
  std::deque<std::string> to_read{library};
  std::set<std::string> read{library};
  for (std::size_t files = 0; !to_read.empty() && files < max_files; ++files) {
    const std::string file = std::move(to_read.front());
    to_read.pop_front();
    for (const auto& name : needed_libraries(file)) {
      // A name with a slash is a path the loader opens as it is; "." and ".." are no files.
      if (name.find('/') != std::string::npos || name == "." || name == ".." || needed_by_.count(name) != 0) {
        continue;
      }
      needed_by_.emplace(name, file);
      std::vector<std::string> directories{plugin_directory};
      directories.insert(directories.end(), search_path.begin(), search_path.end());
      directories.push_back(directory_of(file));
      for (const auto& directory : directories) {
        const std::string candidate = directory + "/" + name;
        if (!is_regular_file(candidate)) continue;
        link(name, candidate);
        if (read.insert(candidate).second) to_read.push_back(candidate);
        break;
      }
    }
  }
}

void DependencyLinks::link(const std::string& name, const std::string& target) {
  if (links_.empty()) return;
  const std::string path = links_ + "/" + name;
  char current[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), current, sizeof current);
  if (n >= 0 && static_cast<std::size_t>(n) == target.size() && target.compare(0, target.size(), current, n) == 0) {
    return;
  }
  // Made aside and renamed over the old link: the name never points nowhere.
  static unsigned serial = 0;
  const std::string aside = links_ + "/.new-" + std::to_string(++serial);
  if (::symlink(target.c_str(), aside.c_str()) != 0) return;
  if (::rename(aside.c_str(), path.c_str()) != 0) ::unlink(aside.c_str());
}

std::optional<std::string> DependencyLinks::missing(const std::string& library,
                                                    const std::vector<std::string>& search_path,
                                                    const std::string& dlerror) const {
  // glibc: "NAME: cannot open shared object file: REASON".
  const auto at = dlerror.find(": cannot open shared object file");
  if (at == std::string::npos || at == 0) return std::nullopt;
  const std::string name = dlerror.substr(0, at);
  if (name == library) return std::nullopt;
  std::string message = quoted(library) + " needs " + quoted(name);
  if (auto by = needed_by_.find(name); by != needed_by_.end() && by->second != library) {
    message += " (through " + quoted(by->second) + ")";
  }
  message += ", which is not in the plugin's directory " + quoted(directory_of(library));
  if (!search_path.empty()) {
    std::string listed;
    for (const auto& directory : search_path) listed += (listed.empty() ? "" : ", ") + quoted(directory);
    message += ", in the library search path (" + listed + ")";
  }
  message += " or where the system looks for libraries (dlopen said: " + dlerror +
             "); put it beside the plugin, or add its directory to Options::library_search_path or "
             "CallOptions::library_search_path";
  return message;
}

}  // namespace pihost
