/* Calls to the host's services through isolator/plugin.hpp, in C.
 *   `call SERVICE`: calls SERVICE with the call's input; sets the result to the answer (when
 *       there is one); returns isolator_call_host's code.
 *   `call_at_once SERVICE N`: N threads (at most 16), released together, each call SERVICE with
 *       "thread K"; sets the result to "ok=A busy=B other=C"; returns A.
 *   `call_late SERVICE`: returns at once, leaving a thread that, 200 ms later, calls SERVICE and
 *       stores "code=<code>" under the data key "late". */
#include <isolator/plugin.hpp>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

ISOLATOR_PLUGIN_EXPORT int call(int argc, char** argv) {
  if (argc < 2) return -100;
  size_t size = 0;
  const void* input = isolator_input(&size);
  void* answer = NULL;
  size_t answer_size = 0;
  const int code = isolator_call_host(argv[1], input, size, &answer, &answer_size);
  if (answer != NULL) {
    isolator_result_set(answer, answer_size);
    free(answer);
  }
  return code;
}

struct Caller {
  pthread_t thread;
  const char* service;
  int index;
  int code;
};

static pthread_barrier_t at_once;

static void* call_once(void* argument) {
  struct Caller* caller = argument;
  char text[32];
  snprintf(text, sizeof text, "thread %d", caller->index);
  pthread_barrier_wait(&at_once);
  void* answer = NULL;
  size_t size = 0;
  caller->code = isolator_call_host(caller->service, text, strlen(text), &answer, &size);
  free(answer);
  return NULL;
}

ISOLATOR_PLUGIN_EXPORT int call_at_once(int argc, char** argv) {
  if (argc < 3) return -100;
  int n = atoi(argv[2]);
  if (n < 1 || n > 16) return -100;
  struct Caller callers[16];
  pthread_barrier_init(&at_once, NULL, (unsigned)n);
  for (int k = 0; k < n; ++k) {
    callers[k].service = argv[1];
    callers[k].index = k;
    callers[k].code = -100;
    if (pthread_create(&callers[k].thread, NULL, call_once, &callers[k]) != 0) return -101;
  }
  int ok = 0, busy = 0, other = 0;
  for (int k = 0; k < n; ++k) {
    pthread_join(callers[k].thread, NULL);
    if (callers[k].code == ISOLATOR_HOST_OK) ++ok;
    else if (callers[k].code == ISOLATOR_HOST_BUSY) ++busy;
    else ++other;
  }
  pthread_barrier_destroy(&at_once);
  char text[64];
  snprintf(text, sizeof text, "ok=%d busy=%d other=%d", ok, busy, other);
  isolator_result_set(text, strlen(text));
  return ok;
}

static char late_service[256];

static void* call_after_return(void* unused) {
  (void)unused;
  const struct timespec pause = {0, 200 * 1000 * 1000};
  nanosleep(&pause, NULL);
  void* answer = NULL;
  size_t size = 0;
  const int code = isolator_call_host(late_service, "late", 4, &answer, &size);
  free(answer);
  char text[32];
  snprintf(text, sizeof text, "code=%d", code);
  isolator_data_set("late", text, strlen(text));
  return NULL;
}

ISOLATOR_PLUGIN_EXPORT int call_late(int argc, char** argv) {
  if (argc < 2) return -100;
  snprintf(late_service, sizeof late_service, "%s", argv[1]);
  pthread_t thread;
  if (pthread_create(&thread, NULL, call_after_return, NULL) != 0) return -101;
  pthread_detach(thread);
  return 0;
}
