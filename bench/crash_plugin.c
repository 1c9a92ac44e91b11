/* The restart benchmark's plugin: dies of SIGSEGV. */
#include <isolator/plugin.hpp>

#include <signal.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argc;
  (void)argv;
  raise(SIGSEGV);
  return 0;
}
