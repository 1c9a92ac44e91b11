/* Burns CPU for argv[1] milliseconds of wall time (at most 20 s), then returns 0. */
#include <isolator/plugin.hpp>

#include <stdlib.h>
#include <time.h>

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  long ms = argc > 1 ? atol(argv[1]) : 1000;
  if (ms > 20000) ms = 20000;
  const long end = now_ms() + ms;
  volatile unsigned long x = 0;
  while (now_ms() < end) {
    for (int i = 0; i < 100000; ++i) x += (unsigned long)i;
  }
  return 0;
}
