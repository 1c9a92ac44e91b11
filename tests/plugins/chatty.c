/* `method LINES BYTES`: writes LINES lines of BYTES 'x' to stdout, then one to stderr.
 * `say TEXT`: prints TEXT to stdout. `partial TEXT`: prints TEXT with no newline. */
#include <isolator/plugin.hpp>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  if (argc < 3) return -1;
  const int lines = atoi(argv[1]);
  const int bytes = atoi(argv[2]);
  char* line = malloc((size_t)bytes + 1);
  memset(line, 'x', (size_t)bytes);
  line[bytes] = '\0';
  for (int i = 0; i < lines; ++i) printf("%s\n", line);
  fprintf(stderr, "done on stderr\n");
  free(line);
  return lines;
}

ISOLATOR_PLUGIN_EXPORT int say(int argc, char** argv) {
  if (argc > 1) printf("%s\n", argv[1]);
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int partial(int argc, char** argv) {
  if (argc > 1) printf("%s", argv[1]);
  return 0;
}
