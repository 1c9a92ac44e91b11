/* Calls abort(): SIGABRT. */
#include <isolator/plugin.hpp>

#include <stdlib.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argc;
  (void)argv;
  abort();
}
