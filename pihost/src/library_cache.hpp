// Loads plugin libraries and finds their methods, with an error a person can act on when
// either fails. Each path is dlopen'ed once and kept loaded for the life of pihost (a
// plugin's threads or atexit handlers may still run its code after a call).
#pragma once

#include "dependency_links.hpp"

#include <isolator/wire/protocol.hpp>

#include <map>
#include <string>
#include <vector>

namespace pihost {

using Method = int (*)(int, char**);

/// A found method, or why there is none (reason and message).
struct Resolution {
  Method method = nullptr;
  isolator::wire::FailureReason reason = isolator::wire::FailureReason::library_not_found;
  std::string message;
};

class LibraryCache {
 public:
  /// `links_directory`: pihost's --library-links directory, or empty (DependencyLinks).
  explicit LibraryCache(std::string links_directory) : links_(std::move(links_directory)) {}

  /// Finds `symbol` in the library at the absolute path `path`, loading it (RTLD_NOW) on
  /// first use, after linking the libraries it needs from its directory and `search_path`
  /// (DependencyLinks::prepare). Static initializers of the library run here. A library that
  /// needs one found nowhere is dependency_not_found, and is tried again at the next call.
  /// Not thread-safe.
  Resolution resolve(const std::string& path, const std::string& symbol, const std::vector<std::string>& search_path);

 private:
  Resolution load(const std::string& path, const std::vector<std::string>& search_path, void*& handle);

  DependencyLinks links_;
  std::map<std::string, void*> handles_;
};

}  // namespace pihost
