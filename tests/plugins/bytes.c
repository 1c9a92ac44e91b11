/* Input and result bytes through isolator/plugin.hpp, written in C (the header compiles as C).
 *   `echo_input`: sets the result to the call's input bytes; returns their size, or -1 when
 *       isolator_input() gave NULL.
 *   `set_text TEXT`: sets the result to TEXT; returns isolator_result_set's return.
 *   `no_result`: sets nothing; returns 7.
 *   `empty_result`: sets empty bytes; returns isolator_result_set's return.
 *   `oversize N`: sets N bytes of 'x'; returns isolator_result_set's return (-2 over the cap).
 *   `oversize_then_fit N`: sets N bytes, then "fits"; returns the second set's return.
 *   `msgpack_map`: sets the msgpack map {"answer": 42, "name": "isolator"}; returns 0.
 *   `sum_fixints`: the input as a msgpack array of small non-negative ints; returns their sum,
 *       or -1 when it is not that.
 *   `from_two_threads`: two threads each set the result ("one", "two"), one after the other;
 *       returns 0 (the result is the second's).
 *   `from_threads_at_once`: eight threads, released together, each set "thread K" (K 0..7) and
 *       read the input; returns how many of them read it whole (8 unless something is wrong).
 *   `late_set`: returns at once, leaving a thread that, 200 ms later, tries isolator_input()
 *       and isolator_result_set() and stores what they gave under the data key "late" as
 *       "input=<0|1> set=<return>".
 *   `limit`: returns isolator_result_limit() (in KiB, so that it fits an int).
 *   `crash_once_then_echo MARKER`: the first time (MARKER does not exist) creates MARKER and
 *       dies of SIGSEGV; later, as echo_input. */
#include <isolator/plugin.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

ISOLATOR_PLUGIN_EXPORT int echo_input(int argc, char** argv) {
  (void)argc;
  (void)argv;
  size_t size = 12345;
  const void* data = isolator_input(&size);
  if (data == NULL) return -1;
  isolator_result_set(data, size);
  return (int)size;
}

ISOLATOR_PLUGIN_EXPORT int set_text(int argc, char** argv) {
  if (argc < 2) return -100;
  return isolator_result_set(argv[1], strlen(argv[1]));
}

ISOLATOR_PLUGIN_EXPORT int no_result(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return 7;
}

ISOLATOR_PLUGIN_EXPORT int empty_result(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return isolator_result_set(NULL, 0);
}

static int set_filled(size_t size) {
  char* bytes = malloc(size > 0 ? size : 1);
  if (bytes == NULL) return -100;
  memset(bytes, 'x', size);
  const int set = isolator_result_set(bytes, size);
  free(bytes);
  return set;
}

ISOLATOR_PLUGIN_EXPORT int oversize(int argc, char** argv) {
  if (argc < 2) return -100;
  return set_filled(strtoul(argv[1], NULL, 10));
}

ISOLATOR_PLUGIN_EXPORT int oversize_then_fit(int argc, char** argv) {
  if (argc < 2) return -100;
  if (set_filled(strtoul(argv[1], NULL, 10)) != -2) return -101;
  return isolator_result_set("fits", 4);
}

ISOLATOR_PLUGIN_EXPORT int msgpack_map(int argc, char** argv) {
  (void)argc;
  (void)argv;
  /* fixmap of 2: "answer" -> 42, "name" -> "isolator" */
  static const char map[] = "\x82\xa6"
                            "answer"
                            "\x2a\xa4"
                            "name"
                            "\xa8"
                            "isolator";
  return isolator_result_set(map, sizeof map - 1);
}

ISOLATOR_PLUGIN_EXPORT int sum_fixints(int argc, char** argv) {
  (void)argc;
  (void)argv;
  size_t size = 0;
  const unsigned char* data = isolator_input(&size);
  if (data == NULL || size == 0 || (data[0] & 0xf0) != 0x90 || size != 1 + (size_t)(data[0] & 0x0f)) return -1;
  int sum = 0;
  for (size_t i = 1; i < size; ++i) {
    if (data[i] > 0x7f) return -1;
    sum += data[i];
  }
  return sum;
}

static void* set_from_thread(void* text) {
  isolator_result_set(text, strlen(text));
  return NULL;
}

ISOLATOR_PLUGIN_EXPORT int from_two_threads(int argc, char** argv) {
  (void)argc;
  (void)argv;
  static char one[] = "one";
  static char two[] = "two";
  pthread_t thread;
  if (pthread_create(&thread, NULL, set_from_thread, one) != 0) return -100;
  pthread_join(thread, NULL);
  if (pthread_create(&thread, NULL, set_from_thread, two) != 0) return -100;
  pthread_join(thread, NULL);
  return 0;
}

static pthread_barrier_t at_once;
static int read_whole[8];

static void* set_at_once(void* index) {
  const int k = (int)(long)index;
  char text[16];
  snprintf(text, sizeof text, "thread %d", k);
  pthread_barrier_wait(&at_once);
  size_t size = 0;
  const char* input = isolator_input(&size);
  read_whole[k] = input != NULL && size == 5 && memcmp(input, "input", 5) == 0;
  isolator_result_set(text, strlen(text));
  return NULL;
}

ISOLATOR_PLUGIN_EXPORT int from_threads_at_once(int argc, char** argv) {
  (void)argc;
  (void)argv;
  pthread_t threads[8];
  pthread_barrier_init(&at_once, NULL, 8);
  for (long k = 0; k < 8; ++k) {
    if (pthread_create(&threads[k], NULL, set_at_once, (void*)k) != 0) return -100;
  }
  int whole = 0;
  for (int k = 0; k < 8; ++k) {
    pthread_join(threads[k], NULL);
    whole += read_whole[k];
  }
  pthread_barrier_destroy(&at_once);
  return whole;
}

static void* try_after_return(void* unused) {
  (void)unused;
  const struct timespec pause = {0, 200 * 1000 * 1000};
  nanosleep(&pause, NULL);
  size_t size = 0;
  const int input = isolator_input(&size) != NULL;
  const int set = isolator_result_set("late", 4);
  char text[64];
  snprintf(text, sizeof text, "input=%d set=%d", input, set);
  isolator_data_set("late", text, strlen(text));
  return NULL;
}

ISOLATOR_PLUGIN_EXPORT int late_set(int argc, char** argv) {
  (void)argc;
  (void)argv;
  pthread_t thread;
  if (pthread_create(&thread, NULL, try_after_return, NULL) != 0) return -100;
  pthread_detach(thread);
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int limit(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return (int)(isolator_result_limit() / 1024);
}

ISOLATOR_PLUGIN_EXPORT int crash_once_then_echo(int argc, char** argv) {
  if (argc < 2) return -100;
  if (access(argv[1], F_OK) != 0) {
    const int fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
    raise(SIGSEGV);
  }
  return echo_input(argc, argv);
}
