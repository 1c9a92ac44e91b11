// `method` throws std::runtime_error("boom from plugin"); `throw_int` throws an int.
#include <isolator/plugin.hpp>

#include <stdexcept>

ISOLATOR_PLUGIN_EXPORT int method(int, char**) { throw std::runtime_error("boom from plugin"); }

ISOLATOR_PLUGIN_EXPORT int throw_int(int, char**) { throw 42; }
