/* Reports what the child can see.
 * `list_fds`: one line "fd N -> TARGET" per open descriptor, returns how many.
 * `getenv NAME`: prints the variable's value or "(unset)", returns 1 when set.
 * `get_cwd`: prints the working directory.
 * `close_fd N`: closes descriptor N, returns 0.
 * `spawn_sleeper`: forks a child that sleeps 30 s (in pihost's process group), prints its
 *   pid, returns 0.
 * `cpus`: prints the CPUs it may run on, returns how many.
 * `process_state`: prints "umask OOO", "no_new_privs N", "dumpable N", "core_limit N",
 *   "session_leader 1|0" (pihost, the plugin's process, leads its own session),
 *   "tty_open ok|ERRNO", and the SigBlk/SigIgn/SigCgt lines of /proc/self/status; returns 0.
 * `litter`: fills the private directory (the parent of the working directory) with a
 *   non-empty directory, a file and a symlink to TARGET (argv[1]), returns 0.
 * `replace_workdir`: renames the working directory away and puts a symlink to TARGET
 *   (argv[1]) in its place, returns 0.
 * `filesystem_size PATH`: prints the size in bytes of the filesystem PATH is on, returns 1
 *   (or -errno when statvfs fails).
 * `squat_proc_fds`: puts a file of its own, `squatter` in the working directory, at every
 *   descriptor from 100 up that names a /proc file (pihost's held ones), returns how many.
 * `squatter_size`: returns the size of that file in bytes (-1 when it is missing).
 * `plant_links TARGET NAME`: puts a symbolic link NAME -> TARGET into every `libraries-*`
 *   directory of the private directory (the parent of the working directory), where children
 *   link their plugins' libraries; returns how many it planted. */
#include <isolator/plugin.hpp>

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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

ISOLATOR_PLUGIN_EXPORT int close_fd(int argc, char** argv) {
  if (argc < 2) return -1;
  return close(atoi(argv[1]));
}

ISOLATOR_PLUGIN_EXPORT int spawn_sleeper(int argc, char** argv) {
  (void)argc;
  (void)argv;
  const pid_t pid = fork();
  if (pid == 0) {
    sleep(30); /* bounded: a test that fails still leaves nothing behind for long */
    _exit(0);
  }
  printf("%d\n", (int)pid);
  return pid > 0 ? 0 : -1;
}

ISOLATOR_PLUGIN_EXPORT int litter(int argc, char** argv) {
  if (argc < 2) return -1;
  if (mkdir("../junk", 0700) != 0) return -2;
  FILE* f = fopen("../junk/file", "w");
  if (f == NULL) return -3;
  fputs("junk\n", f);
  fclose(f);
  if (symlink(argv[1], "../link") != 0) return -4;
  if (symlink(argv[1], "../junk/link") != 0) return -5;
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int replace_workdir(int argc, char** argv) {
  if (argc < 2) return -1;
  if (rename("../work", "../work-moved") != 0) return -2;
  if (symlink(argv[1], "../work") != 0) return -3;
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int cpus(int argc, char** argv) {
  (void)argc;
  (void)argv;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) printf("%d\n", cpu);
  }
  return CPU_COUNT(&set);
}

ISOLATOR_PLUGIN_EXPORT int process_state(int argc, char** argv) {
  (void)argc;
  (void)argv;
  const mode_t mask = umask(0);
  umask(mask);
  printf("umask %03o\n", (unsigned)mask);
  printf("no_new_privs %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  printf("dumpable %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  struct rlimit core;
  getrlimit(RLIMIT_CORE, &core);
  printf("core_limit %llu\n", (unsigned long long)core.rlim_cur);
  printf("session_leader %d\n", getsid(0) == getpid());
  const int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty >= 0) {
    printf("tty_open ok\n");
    close(tty);
  } else {
    printf("tty_open %s\n", strerror(errno));
  }
  FILE* status = fopen("/proc/self/status", "re");
  char line[256];
  while (status != NULL && fgets(line, sizeof line, status) != NULL) {
    if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0 ||
        strncmp(line, "SigCgt:", 7) == 0) {
      fputs(line, stdout);
    }
  }
  if (status != NULL) fclose(status);
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int filesystem_size(int argc, char** argv) {
  if (argc < 2) return -EINVAL;
  struct statvfs st;
  if (statvfs(argv[1], &st) != 0) return -errno;
  printf("%llu\n", (unsigned long long)st.f_blocks * (unsigned long long)st.f_frsize);
  return 1;
}

ISOLATOR_PLUGIN_EXPORT int squat_proc_fds(int argc, char** argv) {
  (void)argc;
  (void)argv;
  const int own = open("squatter", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (own < 0) return -errno;
  int count = 0;
  for (int fd = 100; fd < 1024; ++fd) {
    char link[64];
    char target[256];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    const ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (strncmp(target, "/proc/", 6) != 0) continue;
    if (dup2(own, fd) == fd) ++count;
  }
  close(own);
  return count;
}

ISOLATOR_PLUGIN_EXPORT int squatter_size(int argc, char** argv) {
  (void)argc;
  (void)argv;
  struct stat st;
  if (stat("squatter", &st) != 0) return -1;
  return (int)st.st_size;
}

ISOLATOR_PLUGIN_EXPORT int plant_links(int argc, char** argv) {
  if (argc < 3) return -1;
  DIR* dir = opendir("..");
  if (dir == NULL) return -errno;
  int count = 0;
  struct dirent* entry;
  while ((entry = readdir(dir)) != NULL) {
    if (strncmp(entry->d_name, "libraries-", 10) != 0) continue;
    char link[4096];
    snprintf(link, sizeof(link), "../%s/%s", entry->d_name, argv[2]);
    if (symlink(argv[1], link) == 0) ++count;
  }
  closedir(dir);
  return count;
}
