/* What a hostile plugin tries against its host (issue 17, point 6), one method per attack,
 * and the ordinary work a sandbox must still allow. Run by tests/sandbox_decoy_host.cpp,
 * which passes each method the facts it needs; tests/integration/sandbox_test.cpp runs the
 * decoy.
 *
 * Every attack returns 0 when it WORKED and its own positive code when it was refused,
 * printing why (the errno text) on stderr; what it obtained it prints on stdout, where the
 * decoy looks for its secrets.
 *
 * Safety: an attack on "the host" names it by the pid the decoy passes, and is refused
 * with code 90 when /proc/PID/comm shows another process than sandbox_decoy_host (when the
 * pid is not visible at all, as in a PID namespace of its own, nothing outside can be
 * reached through it either). Nothing is ever sent to a process by any other name. Files
 * an attack manages to create are removed at once; the pihost binary is opened for writing
 * without O_TRUNC and closed unwritten.
 *
 * Attacks (argv[1..] as the decoy passes them):
 *   kill_host PID                     kill(PID, SIGTERM)
 *   host_memory PID ADDR LEN FLAG VAL  /proc/PID/mem: reads LEN bytes at ADDR (hex) and prints
 *                                     them ("secret: ..."), writes the 32-bit VAL (hex) at FLAG (hex)
 *   host_environ PID NAME             /proc/PID/environ: prints "environ: NAME=value"
 *   host_fd PID FD                    reopens /proc/PID/fd/FD, prints "file: <its content>"
 *   steal_channel PID DIR             pidfd_open(PID) + pidfd_getfd on its descriptors 0..1023,
 *                                     keeps the Unix sockets whose peer is neither this pihost
 *                                     nor the host (the host's ends of other isolators' channels),
 *                                     and writes a forged Invoke into each (see below)
 *   escape_cgroup                     writes its pid into the host's cgroup.procs, in every
 *                                     hierarchy where it sits in an isolator cgroup
 *   raise_limits                      raises its own cgroup's memory, pids and CPU limits
 *   join_host_netns PID PORT          setns into /proc/PID/ns/net, then connects to the host's
 *                                     127.0.0.1:PORT (the decoy listens there)
 *   create_in_etc, create_in_root     creates (and removes) /etc or /root/isolator-attack-<pid>
 *   replace_pihost PATH               opens pihost (PATH) O_WRONLY, without O_TRUNC, and closes
 *                                     it; while pihost runs that fails with ETXTBSY even for root,
 *                                     so it then creates (and removes) a file beside pihost: who
 *                                     can do that can rename() a binary of its own over pihost,
 *                                     which every later child then runs. Either counts as worked.
 *
 * The channel theft, end to end: the forged Invoke asks the other isolator's pihost to load
 * DIR/stolen-channel.so (a copy of this library) and call its leak_data (which does nothing).
 * Loading the copy runs this library's constructor, which (only when loaded under that name)
 * copies the value the victim's host stored with set_data("victim-secret") into DIR/leaked.
 * The constructor, not the method, does it because the victim's host kills its pihost as
 * soon as it answers a call it never made ("Started" for an unknown id, a protocol error):
 * the method may not get to run, the constructor always has. The decoy then compares
 * DIR/leaked with its victim's secret. steal_channel itself returns 0 once a forged Invoke
 * was written whole into such a socket.
 *
 * Ordinary work (must succeed in every mode):
 *   touch_64mib    allocates 64 MiB and writes every byte
 *   write_files    writes, reads back and removes a file in the working directory and in /tmp
 *   run_child      fork + exec /bin/true, waits for it
 *   read_beside    reads attack-data.txt beside this library (CMake puts it there) */
#define _GNU_SOURCE
#include <isolator/plugin.hpp>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
  ATTACK_NOT_THE_DECOY = 90,
  ATTACK_BAD_ARGUMENTS = 91,
};

#define STOLEN_LIBRARY_NAME "stolen-channel.so"
#define VICTIM_KEY "victim-secret"
#define DATA_BESIDE "attack-data.txt"
#define DATA_BESIDE_CONTENT "data beside the attack plugin\n"

static void refused(const char* what) { fprintf(stderr, "refused: %s: %s\n", what, strerror(errno)); }

/* The host's pid from `text`, or 0 when it is no pid or not the decoy (see the file comment). */
static pid_t decoy_pid(const char* text) {
  char* end = NULL;
  const long pid = strtol(text, &end, 10);
  if (end == text || *end != '\0' || pid <= 1) {
    fprintf(stderr, "not a pid: \"%s\"\n", text);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/comm", pid);
  FILE* file = fopen(path, "r");
  if (file == NULL) return (pid_t)pid; /* not visible from here */
  char comm[64] = {0};
  if (fgets(comm, sizeof comm, file) == NULL) comm[0] = '\0';
  fclose(file);
  comm[strcspn(comm, "\n")] = '\0';
  if (strcmp(comm, "sandbox_decoy_h") != 0) { /* comm is cut at 15 characters */
    fprintf(stderr, "refusing to attack pid %ld: it is \"%s\", not sandbox_decoy_host\n", pid, comm);
    return 0;
  }
  return (pid_t)pid;
}

/* The whole of `path` (at most capacity - 1 bytes, NUL-terminated); its length, or -1. */
static ssize_t read_file(const char* path, char* buffer, size_t capacity) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t total = 0;
  while (total + 1 < capacity) {
    const ssize_t n = read(fd, buffer + total, capacity - 1 - total);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      errno = error;
      return -1;
    }
    if (n == 0) break;
    total += (size_t)n;
  }
  close(fd);
  buffer[total] = '\0';
  return (ssize_t)total;
}

static int write_text(const char* path, const char* text) {
  const int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const size_t length = strlen(text);
  const ssize_t n = write(fd, text, length);
  const int error = errno;
  close(fd);
  errno = error;
  return n == (ssize_t)length ? 0 : -1;
}

/* --- kill ------------------------------------------------------------------------------ */

ISOLATOR_PLUGIN_EXPORT int kill_host(int argc, char** argv) {
  if (argc < 2) return ATTACK_BAD_ARGUMENTS;
  const pid_t host = decoy_pid(argv[1]);
  if (host == 0) return ATTACK_NOT_THE_DECOY;
  if (kill(host, SIGTERM) != 0) {
    refused("kill(host, SIGTERM)");
    return 10;
  }
  printf("SIGTERM sent to the host, pid %d\n", (int)host);
  return 0;
}

/* --- /proc/HOST/mem, environ, fd ----------------------------------------------------------- */

ISOLATOR_PLUGIN_EXPORT int host_memory(int argc, char** argv) {
  if (argc < 6) return ATTACK_BAD_ARGUMENTS;
  const pid_t host = decoy_pid(argv[1]);
  if (host == 0) return ATTACK_NOT_THE_DECOY;
  const off_t secret_at = (off_t)strtoull(argv[2], NULL, 16);
  const size_t length = (size_t)strtoul(argv[3], NULL, 10);
  const off_t flag_at = (off_t)strtoull(argv[4], NULL, 16);
  const uint32_t value = (uint32_t)strtoul(argv[5], NULL, 16);
  if (length == 0 || length > 4096) return ATTACK_BAD_ARGUMENTS;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)host);
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    refused("open /proc/HOST/mem");
    return 20;
  }
  char secret[4097] = {0};
  if (pread(fd, secret, length, secret_at) != (ssize_t)length) {
    refused("read the host's memory");
    close(fd);
    return 21;
  }
  printf("secret: %s\n", secret);
  if (pwrite(fd, &value, sizeof value, flag_at) != (ssize_t)sizeof value) {
    refused("write the host's memory");
    close(fd);
    return 22;
  }
  close(fd);
  printf("flag overwritten\n");
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int host_environ(int argc, char** argv) {
  if (argc < 3) return ATTACK_BAD_ARGUMENTS;
  const pid_t host = decoy_pid(argv[1]);
  if (host == 0) return ATTACK_NOT_THE_DECOY;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)host);
  static char environment[1 << 20];
  const ssize_t length = read_file(path, environment, sizeof environment);
  if (length < 0) {
    refused("read /proc/HOST/environ");
    return errno == EACCES || errno == EPERM || errno == ENOENT ? 30 : 31;
  }
  const size_t name_length = strlen(argv[2]);
  for (ssize_t at = 0; at < length; at += (ssize_t)strlen(environment + at) + 1) {
    const char* entry = environment + at;
    if (strncmp(entry, argv[2], name_length) == 0 && entry[name_length] == '=') {
      printf("environ: %s\n", entry);
      return 0;
    }
  }
  fprintf(stderr, "refused: /proc/HOST/environ (%zd bytes) has no %s\n", length, argv[2]);
  return 32;
}

ISOLATOR_PLUGIN_EXPORT int host_fd(int argc, char** argv) {
  if (argc < 3) return ATTACK_BAD_ARGUMENTS;
  const pid_t host = decoy_pid(argv[1]);
  if (host == 0) return ATTACK_NOT_THE_DECOY;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)host, atoi(argv[2]));
  char content[4096];
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    refused("reopen /proc/HOST/fd/N");
    return 40;
  }
  const ssize_t n = pread(fd, content, sizeof content - 1, 0);
  close(fd);
  if (n < 0) {
    refused("read the reopened file");
    return 41;
  }
  content[n] = '\0';
  content[strcspn(content, "\n")] = '\0';
  printf("file: %s\n", content);
  return 0;
}

/* --- another isolator's channel ------------------------------------------------------------ */

/* Copies the value stored under VICTIM_KEY in this pihost (if any) into DIR/leaked. */
static void leak_into(const char* dir) {
  if (isolator_data_get == NULL) return;
  char value[4096];
  size_t size = 0;
  if (isolator_data_get(VICTIM_KEY, value, sizeof value, &size) != 1 || size > sizeof value) return;
  char temporary[PATH_MAX];
  char leaked[PATH_MAX];
  snprintf(temporary, sizeof temporary, "%s/leaked.%d", dir, (int)getpid());
  snprintf(leaked, sizeof leaked, "%s/leaked", dir);
  const int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const int whole = write(fd, value, size) == (ssize_t)size;
  close(fd);
  if (whole) rename(temporary, leaked);
  else unlink(temporary);
}

static const char loaded_marker = 0;

/* Runs in whichever pihost loads this library; acts only in one that loaded the copy named
 * STOLEN_LIBRARY_NAME, that is, the victim of steal_channel's forged Invoke. */
__attribute__((constructor)) static void leak_when_loaded_as_the_stolen_copy(void) {
  Dl_info info;
  if (dladdr(&loaded_marker, &info) == 0 || info.dli_fname == NULL) return;
  const char* slash = strrchr(info.dli_fname, '/');
  if (slash == NULL || strcmp(slash + 1, STOLEN_LIBRARY_NAME) != 0) return;
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - info.dli_fname), info.dli_fname);
  leak_into(dir);
}

/* The method the forged Invoke names. It does nothing: loading the library did the work,
 * and the victim's host kills its pihost around now (see the file comment), which could cut
 * a second copy short and leave its temporary file behind. */
ISOLATOR_PLUGIN_EXPORT int leak_data(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static int copy_file(const char* from, const char* to) {
  const int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -1;
  const int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    close(in);
    return -1;
  }
  char buffer[65536];
  ssize_t n;
  int result = 0;
  while ((n = read(in, buffer, sizeof buffer)) > 0) {
    if (write(out, buffer, (size_t)n) != n) {
      result = -1;
      break;
    }
  }
  if (n < 0) result = -1;
  close(in);
  close(out);
  return result;
}

/* msgpack: a str of `length` bytes (str 16 or str 32 header, then the bytes). */
static size_t pack_str(unsigned char* out, const char* text) {
  const size_t length = strlen(text);
  size_t at = 0;
  if (length < 32) {
    out[at++] = (unsigned char)(0xa0 | length);
  } else {
    out[at++] = 0xda;
    out[at++] = (unsigned char)(length >> 8);
    out[at++] = (unsigned char)length;
  }
  memcpy(out + at, text, length);
  return at + length;
}

/* A frame of shared/include/isolator/wire/protocol.hpp (version 4): a 4-byte big-endian
 * length, then the msgpack array [2 (Invoke), id, library, symbol, [args...], [search_path...],
 * input(bin)]. */
static size_t forged_invoke(unsigned char* frame, const char* library, const char* symbol, const char* arg) {
  unsigned char* body = frame + 4;
  size_t at = 0;
  body[at++] = 0x97; /* array of 7 */
  body[at++] = 0x02; /* MessageType::invoke */
  body[at++] = 0xce; /* uint 32: an id the host never used */
  body[at++] = 0x7a;
  body[at++] = 0x77;
  body[at++] = 0x0a;
  body[at++] = 0xc4;
  at += pack_str(body + at, library);
  at += pack_str(body + at, symbol);
  body[at++] = 0x91; /* array of 1 */
  at += pack_str(body + at, arg);
  body[at++] = 0x90; /* an empty search path */
  body[at++] = 0xc4; /* bin 8 */
  body[at++] = 0x00; /* of 0 bytes: no input */
  frame[0] = (unsigned char)(at >> 24);
  frame[1] = (unsigned char)(at >> 16);
  frame[2] = (unsigned char)(at >> 8);
  frame[3] = (unsigned char)at;
  return at + 4;
}

ISOLATOR_PLUGIN_EXPORT int steal_channel(int argc, char** argv) {
  if (argc < 3) return ATTACK_BAD_ARGUMENTS;
  const pid_t host = decoy_pid(argv[1]);
  if (host == 0) return ATTACK_NOT_THE_DECOY;
  const char* dir = argv[2];
  if (strlen(dir) > 2000) return ATTACK_BAD_ARGUMENTS;
  const int pidfd = (int)syscall(SYS_pidfd_open, host, 0);
  if (pidfd < 0) {
    refused("pidfd_open(host)");
    return 50;
  }
  /* The host's descriptors, as far as they go in a small process. */
  int sockets[64];
  int socket_count = 0;
  int taken = 0;
  int first_error = 0;
  for (int target = 0; target < 1024 && socket_count < 64; ++target) {
    const int fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);
    if (fd < 0) {
      if (errno != EBADF && first_error == 0) first_error = errno;
      continue;
    }
    ++taken;
    struct stat status;
    int domain = 0;
    int listening = 0;
    struct ucred peer = {0, 0, 0};
    socklen_t length = sizeof domain;
    socklen_t listening_length = sizeof listening;
    socklen_t peer_length = sizeof peer;
    const int other_isolators_channel = fstat(fd, &status) == 0 && S_ISSOCK(status.st_mode) &&
                                        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 &&
                                        domain == AF_UNIX &&
                                        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
                                                   &listening_length) == 0 &&
                                        !listening &&
                                        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_length) == 0 &&
                                        peer.pid > 0 && peer.pid != getpid() && peer.pid != host;
    if (other_isolators_channel) {
      printf("took the host's fd %d: a channel to pid %d\n", target, (int)peer.pid);
      sockets[socket_count++] = fd;
    } else {
      close(fd);
    }
  }
  close(pidfd);
  if (taken == 0) {
    errno = first_error;
    refused("pidfd_getfd on the host's descriptors");
    return 51;
  }
  if (socket_count == 0) {
    fprintf(stderr, "refused: took %d of the host's descriptors, none a channel to another child\n", taken);
    return 52;
  }
  char library[PATH_MAX];
  snprintf(library, sizeof library, "%s/" STOLEN_LIBRARY_NAME, dir);
  if (copy_file(argv[0], library) != 0) {
    refused("copy the library beside the decoy");
    for (int i = 0; i < socket_count; ++i) close(sockets[i]);
    return 53;
  }
  static unsigned char frame[8192];
  const size_t frame_length = forged_invoke(frame, library, "leak_data", dir);
  int written = 0;
  for (int i = 0; i < socket_count; ++i) {
    if (send(sockets[i], frame, frame_length, MSG_NOSIGNAL) == (ssize_t)frame_length) ++written;
    else refused("write the forged Invoke");
    close(sockets[i]);
  }
  if (written == 0) return 54;
  printf("forged Invoke written into %d channel(s)\n", written);
  return 0;
}

/* --- cgroups --------------------------------------------------------------------------------- */

/* One hierarchy where this process sits in an isolator cgroup: that directory, and the
 * host's (the directory above the isolator-<pid>-<start> one). */
struct IsolatorCgroup {
  char own[PATH_MAX];
  char host[PATH_MAX];
};

/* Where the hierarchy of `controllers` ("memory", "cpu,cpuacct"; "" for cgroup v2) is
 * mounted, and the mount's root within it. */
static int find_mount(const char* controllers, char* mount_point, char* root) {
  FILE* mounts = fopen("/proc/self/mountinfo", "r");
  if (mounts == NULL) return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, mounts) != NULL) {
    char mount_root[PATH_MAX];
    char point[PATH_MAX];
    if (sscanf(line, "%*s %*s %*s %4095s %4095s", mount_root, point) != 2) continue;
    const char* separator = strstr(line, " - ");
    if (separator == NULL) continue;
    char type[64];
    char source[256];
    char options[1024];
    if (sscanf(separator + 3, "%63s %255s %1023s", type, source, options) != 3) continue;
    if (controllers[0] == '\0') {
      found = strcmp(type, "cgroup2") == 0;
    } else if (strcmp(type, "cgroup") == 0) {
      found = 1;
      char wanted[256];
      snprintf(wanted, sizeof wanted, "%s", controllers);
      for (char *save = NULL, *c = strtok_r(wanted, ",", &save); c != NULL; c = strtok_r(NULL, ",", &save)) {
        char with_commas[1100];
        char needle[300];
        snprintf(with_commas, sizeof with_commas, ",%s,", options);
        snprintf(needle, sizeof needle, ",%s,", c);
        if (strstr(with_commas, needle) == NULL) found = 0;
      }
    }
    if (found) {
      strcpy(mount_point, point);
      strcpy(root, mount_root);
    }
  }
  fclose(mounts);
  return found;
}

static int isolator_cgroups(struct IsolatorCgroup* out, int capacity) {
  FILE* cgroups = fopen("/proc/self/cgroup", "r");
  if (cgroups == NULL) return 0;
  char line[4096];
  int count = 0;
  while (count < capacity && fgets(line, sizeof line, cgroups) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    char* first = strchr(line, ':');
    char* second = first != NULL ? strchr(first + 1, ':') : NULL;
    if (second == NULL) continue;
    *second = '\0';
    const char* controllers = first + 1;
    const char* path = second + 1;
    const char* isolator_dir = strstr(path, "/isolator-");
    if (isolator_dir == NULL) continue;
    char mount_point[PATH_MAX];
    char root[PATH_MAX];
    if (!find_mount(controllers, mount_point, root)) continue;
    const size_t skip = strcmp(root, "/") != 0 && strncmp(path, root, strlen(root)) == 0 ? strlen(root) : 0;
    snprintf(out[count].own, sizeof out[count].own, "%s%s", mount_point, path + skip);
    const int host_length = (int)(isolator_dir - path) - (int)skip;
    snprintf(out[count].host, sizeof out[count].host, "%s%.*s", mount_point,
             host_length > 0 ? host_length : 0, path + skip);
    ++count;
  }
  fclose(cgroups);
  return count;
}

ISOLATOR_PLUGIN_EXPORT int escape_cgroup(int argc, char** argv) {
  (void)argc;
  (void)argv;
  struct IsolatorCgroup groups[16];
  const int count = isolator_cgroups(groups, 16);
  if (count == 0) {
    fprintf(stderr, "refused: this process is in no isolator cgroup it can see\n");
    return 60;
  }
  char pid[32];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  int escaped = 0;
  for (int i = 0; i < count; ++i) {
    char procs[PATH_MAX + 16];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", groups[i].host);
    if (write_text(procs, pid) == 0) {
      printf("escaped from %s into %s\n", groups[i].own, groups[i].host);
      ++escaped;
    } else {
      fprintf(stderr, "refused: write %s: %s\n", procs, strerror(errno));
    }
  }
  return escaped > 0 ? 0 : 61;
}

ISOLATOR_PLUGIN_EXPORT int raise_limits(int argc, char** argv) {
  (void)argc;
  (void)argv;
  /* The limit files of cgroup v1 and v2 and the value that lifts each; memsw before
   * memory.limit_in_bytes, which may not exceed it. */
  static const char* const limits[][2] = {
      {"memory.memsw.limit_in_bytes", "-1"},
      {"memory.limit_in_bytes", "-1"},
      {"pids.max", "max"},
      {"cpu.cfs_quota_us", "-1"},
      {"memory.swap.max", "max"},
      {"memory.max", "max"},
      {"cpu.max", "max"},
  };
  struct IsolatorCgroup groups[16];
  const int count = isolator_cgroups(groups, 16);
  if (count == 0) {
    fprintf(stderr, "refused: this process is in no isolator cgroup it can see\n");
    return 70;
  }
  int raised = 0;
  for (int i = 0; i < count; ++i) {
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; ++l) {
      char path[PATH_MAX + 64];
      if (snprintf(path, sizeof path, "%s/%s", groups[i].own, limits[l][0]) >= (int)sizeof path) continue;
      char before[128];
      char after[128];
      if (read_file(path, before, sizeof before) < 0) continue; /* not this hierarchy's */
      before[strcspn(before, "\n")] = '\0';
      if (write_text(path, limits[l][1]) != 0) {
        fprintf(stderr, "refused: raise %s (%s): %s\n", path, before, strerror(errno));
        continue;
      }
      if (read_file(path, after, sizeof after) < 0) after[0] = '\0';
      after[strcspn(after, "\n")] = '\0';
      if (strcmp(before, after) != 0) {
        printf("raised %s: %s -> %s\n", limits[l][0], before, after);
        ++raised;
      }
    }
  }
  return raised > 0 ? 0 : 71;
}

/* --- the host's network namespace ---------------------------------------------------------- */

static int connect_loopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  struct sockaddr_in address;
  memset(&address, 0, sizeof address);
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int result = connect(fd, (struct sockaddr*)&address, sizeof address) == 0 ? 0 : errno;
  close(fd);
  return result;
}

ISOLATOR_PLUGIN_EXPORT int join_host_netns(int argc, char** argv) {
  if (argc < 3) return ATTACK_BAD_ARGUMENTS;
  const pid_t host = decoy_pid(argv[1]);
  if (host == 0) return ATTACK_NOT_THE_DECOY;
  const int port = atoi(argv[2]);
  const int before = connect_loopback(port);
  printf("before setns: connect to the host's port: %s\n", before == 0 ? "connected" : strerror(before));
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/net", (int)host);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    refused("open /proc/HOST/ns/net");
    return 80;
  }
  const int joined = setns(fd, CLONE_NEWNET);
  const int error = errno;
  close(fd);
  if (joined != 0) {
    errno = error;
    refused("setns(host's network namespace)");
    return 81;
  }
  const int after = connect_loopback(port);
  if (after != 0) {
    errno = after;
    refused("connect to the host's port after setns");
    return 82;
  }
  printf("after setns: connected to the host's 127.0.0.1:%d\n", port);
  return 0;
}

/* --- the host's files ---------------------------------------------------------------------- */

/* Creates `path` (exclusively) and removes it again at once. */
static int create_and_remove(const char* path, int code) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "refused: create %s: %s\n", path, strerror(errno));
    return code;
  }
  close(fd);
  if (unlink(path) != 0) fprintf(stderr, "WARNING: could not remove %s: %s\n", path, strerror(errno));
  printf("created (and removed) %s\n", path);
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int create_in_etc(int argc, char** argv) {
  (void)argc;
  (void)argv;
  char path[64];
  snprintf(path, sizeof path, "/etc/isolator-attack-%d", (int)getpid());
  return create_and_remove(path, 100);
}

ISOLATOR_PLUGIN_EXPORT int create_in_root(int argc, char** argv) {
  (void)argc;
  (void)argv;
  char path[64];
  snprintf(path, sizeof path, "/root/isolator-attack-%d", (int)getpid());
  return create_and_remove(path, 110);
}

ISOLATOR_PLUGIN_EXPORT int replace_pihost(int argc, char** argv) {
  if (argc < 2 || argv[1][0] != '/') return ATTACK_BAD_ARGUMENTS;
  const int fd = open(argv[1], O_WRONLY | O_CLOEXEC); /* never O_TRUNC: nothing is written */
  if (fd >= 0) {
    close(fd);
    printf("opened %s for writing\n", argv[1]);
    return 0;
  }
  fprintf(stderr, "open %s for writing: %s\n", argv[1], strerror(errno));
  char beside[PATH_MAX];
  const char* slash = strrchr(argv[1], '/');
  snprintf(beside, sizeof beside, "%.*s/.isolator-attack-%d", (int)(slash - argv[1]), argv[1], (int)getpid());
  return create_and_remove(beside, 120);
}

/* --- ordinary work ------------------------------------------------------------------------- */

ISOLATOR_PLUGIN_EXPORT int touch_64mib(int argc, char** argv) {
  (void)argc;
  (void)argv;
  const size_t size = (size_t)64 << 20;
  volatile unsigned char* memory = malloc(size);
  if (memory == NULL) {
    refused("malloc 64 MiB");
    return 1;
  }
  for (size_t i = 0; i < size; ++i) memory[i] = (unsigned char)i;
  unsigned sum = 0;
  for (size_t i = 0; i < size; i += 4096) sum += memory[i];
  free((void*)memory);
  printf("touched 64 MiB (%u)\n", sum);
  return 0;
}

static int write_read_remove(const char* path) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  const int whole = write(fd, "work\n", 5) == 5;
  close(fd);
  char back[16];
  const int same = whole && read_file(path, back, sizeof back) == 5 && strcmp(back, "work\n") == 0;
  const int error = errno;
  unlink(path);
  errno = error;
  return same ? 0 : -1;
}

ISOLATOR_PLUGIN_EXPORT int write_files(int argc, char** argv) {
  (void)argc;
  (void)argv;
  if (write_read_remove("isolator-attack-work") != 0) {
    refused("write a file in the working directory");
    return 2;
  }
  char path[64];
  snprintf(path, sizeof path, "/tmp/isolator-attack-work-%d", (int)getpid());
  if (write_read_remove(path) != 0) {
    refused("write a file in /tmp");
    return 3;
  }
  printf("wrote the working directory and /tmp\n");
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int run_child(int argc, char** argv) {
  (void)argc;
  (void)argv;
  const pid_t child = fork();
  if (child < 0) {
    refused("fork");
    return 5;
  }
  if (child == 0) {
    execl("/bin/true", "true", (char*)NULL);
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "refused: /bin/true ended with status 0x%x\n", (unsigned)status);
    return 4;
  }
  printf("/bin/true ran\n");
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int read_beside(int argc, char** argv) {
  (void)argc;
  const char* slash = strrchr(argv[0], '/');
  if (slash == NULL) return ATTACK_BAD_ARGUMENTS;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%.*s/" DATA_BESIDE, (int)(slash - argv[0]), argv[0]);
  char content[256];
  if (read_file(path, content, sizeof content) < 0) {
    refused("read " DATA_BESIDE " beside the plugin");
    return 6;
  }
  if (strcmp(content, DATA_BESIDE_CONTENT) != 0) {
    fprintf(stderr, "refused: %s holds \"%s\"\n", path, content);
    return 7;
  }
  printf("read %s\n", path);
  return 0;
}

/* `create_file PATH`: creates PATH (it must not exist). 0 when it could, else the errno. For
 * Protection::writable_paths: only the paths given there are writable in the sandbox. */
ISOLATOR_PLUGIN_EXPORT int create_file(int argc, char** argv) {
  if (argc < 2) return 91;
  const int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    fprintf(stderr, "create %s: %s\n", argv[1], strerror(error));
    return error;
  }
  close(fd);
  return 0;
}
