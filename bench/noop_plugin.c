/* The benchmarks' plugin: returns at once, prints nothing, so a call measures isolator. */
#include <isolator/plugin.hpp>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argv;
  return argc;
}
