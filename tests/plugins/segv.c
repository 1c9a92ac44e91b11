/* Writes through a null pointer: SIGSEGV. */
#include <isolator/plugin.hpp>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argc;
  (void)argv;
  volatile int* nowhere = 0;
  *nowhere = 1;
  return 0;
}
