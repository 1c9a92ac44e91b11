/* `method MB`: writes MB megabytes of output in 100-byte lines to stdout as fast as it can.
 * `background`: starts a thread that writes such lines for ever, and returns 7 once it has
 * written 2000 of them (more than a pipe holds: the thread is writing as the call returns). */
#include <isolator/plugin.hpp>

#include <pthread.h>
#include <sched.h>
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

static volatile long background_lines;

static void* write_for_ever(void* unused) {
  (void)unused;
  char line[101];
  memset(line, 'z', 99);
  line[99] = '\n';
  line[100] = '\0';
  for (;;) {
    fputs(line, stdout);
    __atomic_add_fetch(&background_lines, 1, __ATOMIC_RELEASE);
  }
  return NULL;
}

ISOLATOR_PLUGIN_EXPORT int background(int argc, char** argv) {
  (void)argc;
  (void)argv;
  pthread_t thread;
  if (pthread_create(&thread, NULL, write_for_ever, NULL) != 0) return -1;
  pthread_detach(thread);
  while (__atomic_load_n(&background_lines, __ATOMIC_ACQUIRE) < 2000) sched_yield();
  return 7;
}
