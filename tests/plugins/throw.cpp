// `method` throws std::runtime_error("boom from plugin"); `throw_int` throws an int;
// `throw_huge` throws a runtime_error whose what() is 17 MB long.
#include <isolator/plugin.hpp>

#include <exception>
#include <stdexcept>
#include <string>

ISOLATOR_PLUGIN_EXPORT int method(int, char**) { throw std::runtime_error("boom from plugin"); }

ISOLATOR_PLUGIN_EXPORT int throw_int(int, char**) { throw 42; }

ISOLATOR_PLUGIN_EXPORT int throw_huge(int, char**) { throw std::runtime_error(std::string(17'000'000, 'x')); }

// Throws and catches inside the plugin; returns 7 plus the exceptions the plugin's C++
// runtime believes are still in flight (0 when it is healthy).
ISOLATOR_PLUGIN_EXPORT int catch_inside(int, char**) {
  try {
    throw std::runtime_error("caught in the plugin");
  } catch (const std::exception&) {
    return 7 + std::uncaught_exceptions();
  }
}
