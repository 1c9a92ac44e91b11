// `method` throws std::runtime_error("boom from plugin"); `throw_int` throws an int;
// `throw_huge` throws a runtime_error whose what() is 17 MB long.
#include <isolator/plugin.hpp>

#include <stdexcept>
#include <string>

ISOLATOR_PLUGIN_EXPORT int method(int, char**) { throw std::runtime_error("boom from plugin"); }

ISOLATOR_PLUGIN_EXPORT int throw_int(int, char**) { throw 42; }

ISOLATOR_PLUGIN_EXPORT int throw_huge(int, char**) {
  throw std::runtime_error(std::string(17'000'000, 'x'));
}
