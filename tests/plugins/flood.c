/* Writes argv[1] MB of output in 100-byte lines to stdout as fast as it can. */
#include <isolator/plugin.hpp>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  const long megabytes = argc > 1 ? atol(argv[1]) : 100;
  char line[101];
  memset(line, 'y', 99);
  line[99] = '\n';
  line[100] = '\0';
  for (long i = 0; i < megabytes * 10000; ++i) fputs(line, stdout);
  return 0;
}
