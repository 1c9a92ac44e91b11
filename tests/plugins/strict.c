/* What the strict profile (Options::hardening.strict) shows a plugin and lets it do. Each
 * method prints what it found, one line per fact, and returns as said.
 *   visible PATH...     prints "PATH visible" or "PATH absent: ERROR"; returns how many are visible
 *   create_in_root      tries to create /isolator-strict-PID: the errno of the refusal, or 0 when made
 *   private_tmp NAME    writes /tmp/NAME; 0 on success, else the errno
 *   interfaces          prints each network interface's name; returns their count
 *   make_fifo           mkfifo in the working directory (mknodat, off the allow-list): 0 or errno
 *   threads N           starts and joins N threads (clone3 refused, clone used): 0 or errno
 *   shell CODE          posix_spawn of /bin/sh -c 'exit CODE'; returns the shell's exit code
 *   sh SCRIPT           posix_spawn of /bin/sh -c SCRIPT; returns the shell's exit code
 *   ns NAME             prints what /proc/self/ns/NAME links to ("net:[4026531840]") */
#define _GNU_SOURCE
#include <isolator/plugin.hpp>

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

ISOLATOR_PLUGIN_EXPORT int visible(int argc, char** argv) {
  int count = 0;
  for (int i = 1; i < argc; ++i) {
    struct stat st;
    if (lstat(argv[i], &st) == 0) {
      printf("%s visible\n", argv[i]);
      ++count;
    } else {
      printf("%s absent: %s\n", argv[i], strerror(errno));
    }
  }
  return count;
}

ISOLATOR_PLUGIN_EXPORT int create_in_root(int argc, char** argv) {
  (void)argc;
  (void)argv;
  char path[64];
  snprintf(path, sizeof path, "/isolator-strict-%d", (int)getpid());
  const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    printf("refused: %s\n", strerror(error));
    return error;
  }
  close(fd);
  unlink(path);
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int private_tmp(int argc, char** argv) {
  if (argc < 2) return -1;
  char path[256];
  snprintf(path, sizeof path, "/tmp/%s", argv[1]);
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  const int written = write(fd, "private\n", 8) == 8 ? 0 : errno;
  close(fd);
  return written;
}

ISOLATOR_PLUGIN_EXPORT int interfaces(int argc, char** argv) {
  (void)argc;
  (void)argv;
  struct if_nameindex* names = if_nameindex();
  if (names == NULL) return -errno;
  int count = 0;
  for (struct if_nameindex* n = names; n->if_index != 0; ++n, ++count) printf("%s\n", n->if_name);
  if_freenameindex(names);
  return count;
}

ISOLATOR_PLUGIN_EXPORT int make_fifo(int argc, char** argv) {
  (void)argc;
  (void)argv;
  if (mkfifo("isolator-strict-fifo", 0600) != 0) return errno;
  unlink("isolator-strict-fifo");
  return 0;
}

static void* nothing(void* argument) { return argument; }

ISOLATOR_PLUGIN_EXPORT int threads(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 4;
  for (int i = 0; i < n; ++i) {
    pthread_t thread;
    const int error = pthread_create(&thread, NULL, nothing, NULL);
    if (error != 0) return error;
    pthread_join(thread, NULL);
  }
  return 0;
}

static int run_shell(const char* script) {
  char* args[] = {"sh", "-c", (char*)script, NULL};
  pid_t pid;
  const int error = posix_spawn(&pid, "/bin/sh", NULL, NULL, args, environ);
  if (error != 0) {
    printf("posix_spawn: %s\n", strerror(error));
    return -error;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1000;
}

ISOLATOR_PLUGIN_EXPORT int shell(int argc, char** argv) {
  if (argc < 2) return -1;
  char script[64];
  snprintf(script, sizeof script, "exit %d", atoi(argv[1]));
  return run_shell(script);
}

ISOLATOR_PLUGIN_EXPORT int sh(int argc, char** argv) { return argc < 2 ? -1 : run_shell(argv[1]); }

ISOLATOR_PLUGIN_EXPORT int ns(int argc, char** argv) {
  if (argc < 2) return -1;
  char path[64];
  char link[128];
  snprintf(path, sizeof path, "/proc/self/ns/%s", argv[1]);
  const ssize_t n = readlink(path, link, sizeof link - 1);
  if (n < 0) return errno;
  link[n] = '\0';
  printf("%s\n", link);
  return 0;
}
