/* The consumer's plugin: prints a greeting for argv[1] and returns its length. */
#include <isolator/plugin.hpp>

#include <stdio.h>
#include <string.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  if (argc < 2) return -1;
  printf("hello, %s\n", argv[1]);
  return (int)strlen(argv[1]);
}
