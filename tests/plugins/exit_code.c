/* Prints a line without a newline, then calls exit(argv[1]) (stdio is flushed by exit). */
#include <isolator/plugin.hpp>

#include <stdio.h>
#include <stdlib.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  printf("about to exit");
  exit(argc > 1 ? atoi(argv[1]) : 0);
}
