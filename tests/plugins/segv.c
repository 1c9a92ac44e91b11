/* Writes through a null pointer: SIGSEGV (`method`, and `without_handler` below). */
#include <isolator/plugin.hpp>

#include <signal.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argc;
  (void)argv;
  volatile int* nowhere = 0;
  *nowhere = 1;
  return 0;
}

/* Puts the default action back for SIGSEGV first, as a plugin that installs handlers of its
   own may: pihost's crash handler never runs. */
ISOLATOR_PLUGIN_EXPORT int without_handler(int argc, char** argv) {
  (void)argc;
  (void)argv;
  signal(SIGSEGV, SIG_DFL);
  volatile int* nowhere = 0;
  *nowhere = 1;
  return 0;
}
