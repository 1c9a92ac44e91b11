// The README's plugin example, built and called by ctest so that it cannot rot.
#include <isolator/plugin.hpp>  // only for the export macro and the data functions

#include <cstdio>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  // argv[0] is the library's path, argv[1..argc-1] the call's arguments, argv[argc] NULL.
  for (int i = 1; i < argc; ++i) std::printf("argument %d: %s\n", i, argv[i]);
  auto greeting = isolator::plugin::get_data("greeting");  // set by the host with set_data
  return greeting ? 1 : 0;
}
