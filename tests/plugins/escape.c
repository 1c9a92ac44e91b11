/* Tries to outlive everything: forks a child that starts a new session and double-forks;
 * the grandchild clears its death signal, changes its process group and sleeps 30 s. Prints
 * "escaped PID" for the grandchild, then the method sleeps argv[1] ms (so the host can be
 * killed mid-call) and returns 0. */
#include <isolator/plugin.hpp>

#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  int report[2];
  if (pipe(report) != 0) return -1;
  const pid_t child = fork();
  if (child == 0) {
    setsid();
    const pid_t grandchild = fork();
    if (grandchild == 0) {
      prctl(PR_SET_PDEATHSIG, 0);
      setpgid(0, 0);
      const pid_t self = getpid();
      if (write(report[1], &self, sizeof self) != sizeof self) _exit(1);
      close(report[1]);
      sleep(30);
      _exit(0);
    }
    _exit(0); /* the grandchild is orphaned */
  }
  close(report[1]);
  waitpid(child, NULL, 0);
  pid_t escaped = 0;
  if (read(report[0], &escaped, sizeof escaped) != sizeof escaped) return -2;
  close(report[0]);
  printf("escaped %d\n", (int)escaped);
  fflush(stdout);
  const long ms = argc > 1 ? atol(argv[1]) : 0;
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0) {
  }
  return 0;
}
