// Makes the libraries a plugin needs findable when they lie beside it or in the host's
// search path, without changing the environment of anything the plugin starts.
//
// The loader looks for a DT_NEEDED library in the directories of LD_LIBRARY_PATH as it was
// when pihost started (it reads the variable once, before main), then the system's. The host
// starts pihost with a directory of its own first in LD_LIBRARY_PATH, the links directory,
// empty; pihost takes that entry out of its environment again at once (restore_environment),
// so that the plugin and the programs it starts see the variable as the host's options set
// it, while the loader keeps searching the directory. Before each library is loaded, prepare()
// walks its DT_NEEDED names (and theirs, recursively) and, for each one found in the plugin's
// directory or a search-path directory, puts a symbolic link of that name to it in the links
// directory. The loader then finds it there, before the system's copy, whether or not the
// library has a SONAME (a library without one is only ever matched by its file name, so
// loading it ahead by its path would not do).
//
// A library already loaded in the process is used for every later need of its name (the
// loader's rule): two plugins of one child that each bring a different `libdep.so` share the
// first one loaded.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pihost {

/// Takes pihost's links directory, `links_directory` (the value of the host's flag), out of
/// the front of LD_LIBRARY_PATH, unsetting the variable when nothing else is in it. Call
/// first thing in main, while pihost has one thread.
void restore_environment(const std::string& links_directory);

class DependencyLinks {
 public:
  /// `links_directory`: empty when the host gave none (then prepare() does nothing).
  explicit DependencyLinks(std::string links_directory) : links_(std::move(links_directory)) {}

  /// Links the libraries that `library` needs, directly or through each other, that lie in
  /// `library`'s own directory or in one of `search_path` (absolute directories, in order;
  /// the first that has a name wins; a dependency's own directory is looked in after them).
  /// Replaces a link of the same name left by an earlier call. Remembers what it found, for
  /// missing(). Errors are not reported here: dlopen says what could not be found.
  void prepare(const std::string& library, const std::vector<std::string>& search_path);

  /// After dlopen of `library` failed with `dlerror`: when the text says that a library
  /// other than `library` itself cannot be opened, a message naming it, which library needs
  /// it, and where it was looked for (for FailureReason::dependency_not_found); else empty.
  std::optional<std::string> missing(const std::string& library, const std::vector<std::string>& search_path,
                                     const std::string& dlerror) const;

 private:
  void link(const std::string& name, const std::string& target);

  const std::string links_;
  // From the last prepare(): which library's DT_NEEDED listed each name first.
  std::map<std::string, std::string> needed_by_;
};

}  // namespace pihost
