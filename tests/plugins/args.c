/* Prints its arguments; `method` returns argc * 10 + 2, `echo` prints argv[1] and returns
 * it as a number. */
#include <isolator/plugin.hpp>

#include <stdio.h>
#include <stdlib.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) printf("argv[%d]=%s\n", i, argv[i]);
  return argv[argc] == NULL ? argc * 10 + 2 : -1;
}

ISOLATOR_PLUGIN_EXPORT int echo(int argc, char** argv) {
  if (argc < 2) return -1;
  printf("echo %s\n", argv[1]);
  return atoi(argv[1]);
}
