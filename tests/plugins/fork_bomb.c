/* A bounded fork bomb: tries argv[1] forks (at most 256); every child sleeps 2 s and exits.
 * Returns how many forks succeeded. Run only under a pids limit. */
#include <isolator/plugin.hpp>

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  int wanted = argc > 1 ? atoi(argv[1]) : 64;
  if (wanted > 256) wanted = 256;
  int made = 0;
  for (int i = 0; i < wanted; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      sleep(2);
      _exit(0);
    }
    if (pid > 0) ++made;
  }
  while (wait(NULL) > 0) {
  }
  return made;
}
