/* Raises the limits its own containment set, as a plugin running as root can.
 * argv[1] is the backend ("cgroup-v1", "cgroup-v2" or "rlimit"), argv[2] the limit:
 * "memory", "pids" or "cpu" (under "rlimit", "memory" is the hard RLIMIT_AS).
 * `raise_now BACKEND LIMIT`: raises it to unlimited now; prints "wrote VALUE to FILE" for each
 *   file written (v1 memory: memory.memsw.limit_in_bytes first, where it exists, since the
 *   memory limit may not exceed it); returns 0, or -errno (and prints why) when it cannot.
 * `can_raise BACKEND LIMIT`: whether `raise_now` could: each file opened for writing (nothing
 *   written), or CAP_SYS_RESOURCE for an rlimit; returns 0 or -errno, printing why not.
 * `raise_later BACKEND LIMIT MS`: leaves a thread behind that raises it after MS
 *   milliseconds (as `raise_now`), and returns 0 at once.
 * `lower_soft_memory`: lowers the soft RLIMIT_AS by a page below its hard limit (any
 *   process may); returns 0 or -errno.
 * `lower_hard_memory`: lowers the hard RLIMIT_AS (and the soft one with it) by a page (any
 *   process may; raising it takes CAP_SYS_RESOURCE); returns 0 or -errno. */
#define _GNU_SOURCE
#include <isolator/plugin.hpp>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* This process's cgroup directory for `controller` ("" for cgroup v2) into `out`. */
static int own_cgroup(const char* controller, char* out, size_t size) {
  FILE* file = fopen("/proc/self/cgroup", "r");
  if (file == NULL) return -errno;
  char line[1024];
  int found = -ENOENT;
  while (found != 0 && fgets(line, sizeof line, file) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char* controllers = strchr(line, ':');
    char* path = controllers != NULL ? strchr(controllers + 1, ':') : NULL;
    if (path == NULL) continue;
    *path++ = '\0';
    ++controllers;
    if (controller[0] == '\0') {
      if (controllers[0] != '\0') continue;
      /* A pure v2 machine mounts it at /sys/fs/cgroup; a hybrid one at .../unified. */
      const char* mount = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "/sys/fs/cgroup"
                                                                                 : "/sys/fs/cgroup/unified";
      snprintf(out, size, "%s%s", mount, path);
      found = 0;
    } else {
      /* "cpu,cpuacct" holds "cpu": match a whole name in the list. */
      char list[256];
      snprintf(list, sizeof list, ",%s,", controllers);
      char wanted[64];
      snprintf(wanted, sizeof wanted, ",%s,", controller);
      if (strstr(list, wanted) == NULL) continue;
      snprintf(out, size, "/sys/fs/cgroup/%s%s", controllers, path);
      found = 0;
    }
  }
  fclose(file);
  return found;
}

/* The files that hold `limit` under `backend`, with the value that raises each, in the
 * order to write them; returns how many (up to 2), or -errno. */
static int limit_files(const char* backend, const char* limit, char files[2][1024], const char* values[2]) {
  const int v2 = strcmp(backend, "cgroup-v2") == 0;
  char dir[900];
  int error = 0;
  if (strcmp(limit, "memory") == 0) {
    if ((error = own_cgroup(v2 ? "" : "memory", dir, sizeof dir)) != 0) return error;
    if (v2) {
      snprintf(files[0], 1024, "%s/memory.max", dir);
      values[0] = "max";
      return 1;
    }
    int n = 0;
    snprintf(files[n], 1024, "%s/memory.memsw.limit_in_bytes", dir);
    if (access(files[n], F_OK) == 0) values[n++] = "-1";
    snprintf(files[n], 1024, "%s/memory.limit_in_bytes", dir);
    values[n++] = "-1";
    return n;
  }
  if (strcmp(limit, "pids") == 0) {
    if ((error = own_cgroup(v2 ? "" : "pids", dir, sizeof dir)) != 0) return error;
    snprintf(files[0], 1024, "%s/pids.max", dir);
    values[0] = "max";
    return 1;
  }
  if (strcmp(limit, "cpu") == 0) {
    if ((error = own_cgroup(v2 ? "" : "cpu", dir, sizeof dir)) != 0) return error;
    snprintf(files[0], 1024, v2 ? "%s/cpu.max" : "%s/cpu.cfs_quota_us", dir);
    values[0] = v2 ? "max" : "-1";
    return 1;
  }
  return -EINVAL;
}

static int has_cap_sys_resource(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &header, data) != 0) return 0;
  return (data[CAP_SYS_RESOURCE / 32].effective & (1u << (CAP_SYS_RESOURCE % 32))) != 0;
}

/* Raises (`write_it`) or checks that it could raise `limit`; 0 or -errno. */
static int act(const char* backend, const char* limit, int write_it) {
  if (strcmp(backend, "rlimit") == 0) {
    if (strcmp(limit, "memory") != 0) return -EINVAL;
    if (!write_it) {
      if (has_cap_sys_resource()) return 0;
      printf("no CAP_SYS_RESOURCE: a hard rlimit cannot be raised\n");
      return -EPERM;
    }
    const struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &unlimited) != 0) {
      const int error = errno;
      printf("cannot raise RLIMIT_AS: %s\n", strerror(error));
      return -error;
    }
    printf("raised RLIMIT_AS to unlimited\n");
    return 0;
  }
  char files[2][1024];
  const char* values[2];
  const int n = limit_files(backend, limit, files, values);
  if (n < 0) {
    printf("cannot find the %s limit's file: %s\n", limit, strerror(-n));
    return n;
  }
  for (int i = 0; i < n; ++i) {
    const int fd = open(files[i], O_WRONLY | O_CLOEXEC);
    int error = fd < 0 ? errno : 0;
    if (fd >= 0 && write_it && write(fd, values[i], strlen(values[i])) < 0) error = errno;
    if (fd >= 0) close(fd);
    if (error != 0) {
      printf("cannot %s %s: %s\n", write_it ? "write" : "open for writing", files[i], strerror(error));
      return -error;
    }
    if (write_it) printf("wrote %s to %s\n", values[i], files[i]);
  }
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int raise_now(int argc, char** argv) {
  if (argc < 3) return -EINVAL;
  return act(argv[1], argv[2], 1);
}

ISOLATOR_PLUGIN_EXPORT int can_raise(int argc, char** argv) {
  if (argc < 3) return -EINVAL;
  return act(argv[1], argv[2], 0);
}

struct later {
  char backend[32];
  char limit[32];
  long ms;
};

static void* raise_after(void* argument) {
  struct later* later = argument;
  const struct timespec pause = {later->ms / 1000, (later->ms % 1000) * 1000000};
  nanosleep(&pause, NULL);
  act(later->backend, later->limit, 1);
  fflush(stdout);
  free(later);
  return NULL;
}

ISOLATOR_PLUGIN_EXPORT int raise_later(int argc, char** argv) {
  if (argc < 4) return -EINVAL;
  struct later* later = calloc(1, sizeof *later);
  if (later == NULL) return -ENOMEM;
  snprintf(later->backend, sizeof later->backend, "%s", argv[1]);
  snprintf(later->limit, sizeof later->limit, "%s", argv[2]);
  later->ms = atol(argv[3]);
  pthread_t thread;
  const int error = pthread_create(&thread, NULL, raise_after, later);
  if (error != 0) {
    free(later);
    return -error;
  }
  pthread_detach(thread);
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int lower_soft_memory(int argc, char** argv) {
  (void)argc;
  (void)argv;
  struct rlimit limit;
  if (getrlimit(RLIMIT_AS, &limit) != 0) return -errno;
  if (limit.rlim_max == RLIM_INFINITY) return -EINVAL;
  limit.rlim_cur = limit.rlim_max - 4096;
  return setrlimit(RLIMIT_AS, &limit) == 0 ? 0 : -errno;
}

ISOLATOR_PLUGIN_EXPORT int lower_hard_memory(int argc, char** argv) {
  (void)argc;
  (void)argv;
  struct rlimit limit;
  if (getrlimit(RLIMIT_AS, &limit) != 0) return -errno;
  if (limit.rlim_max == RLIM_INFINITY) return -EINVAL;
  limit.rlim_max -= 4096;
  limit.rlim_cur = limit.rlim_max;
  return setrlimit(RLIMIT_AS, &limit) == 0 ? 0 : -errno;
}
