/* Reports what the child can see.
 * `list_fds`: one line "fd N -> TARGET" per open descriptor, returns how many.
 * `getenv NAME`: prints the variable's value or "(unset)", returns 1 when set.
 * `get_cwd`: prints the working directory. */
#include <isolator/plugin.hpp>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

ISOLATOR_PLUGIN_EXPORT int list_fds(int argc, char** argv) {
  (void)argc;
  (void)argv;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == NULL) return -1;
  int count = 0;
  struct dirent* entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.') continue;
    int fd = atoi(entry->d_name);
    if (fd == dirfd(dir)) continue;
    char path[64];
    char target[256] = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) n = 0;
    target[n] = '\0';
    printf("fd %d -> %s\n", fd, target);
    ++count;
  }
  closedir(dir);
  return count;
}

ISOLATOR_PLUGIN_EXPORT int get_env(int argc, char** argv) {
  if (argc < 2) return -1;
  const char* value = getenv(argv[1]);
  printf("%s\n", value != NULL ? value : "(unset)");
  return value != NULL;
}

ISOLATOR_PLUGIN_EXPORT int get_cwd(int argc, char** argv) {
  (void)argc;
  (void)argv;
  char buffer[4096];
  if (getcwd(buffer, sizeof buffer) == NULL) return -1;
  printf("%s\n", buffer);
  return 0;
}

