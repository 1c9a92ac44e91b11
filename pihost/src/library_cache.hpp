// Loads plugin libraries and finds their methods, with an error a person can act on when
// either fails. Each path is dlopen'ed once and kept loaded for the life of pihost (a
// plugin's threads or atexit handlers may still run its code after a call).
#pragma once

#include <isolator/wire/protocol.hpp>

#include <map>
#include <string>

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
  /// Finds `symbol` in the library at the absolute path `path`, loading it (RTLD_NOW) on
  /// first use. Static initializers of the library run here. Not thread-safe.
  Resolution resolve(const std::string& path, const std::string& symbol);

 private:
  Resolution load(const std::string& path, void*& handle);

  std::map<std::string, void*> handles_;
};

}  // namespace pihost
