/* Sleeps argv[1] milliseconds, then returns 7. */
#include <isolator/plugin.hpp>

#include <stdlib.h>
#include <time.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  long ms = argc > 1 ? atol(argv[1]) : 0;
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0) {
  }
  return 7;
}
