/* Tries what Options::hardening takes away. Each returns 0 on success, else the errno.
 * `try_connect PORT`: a TCP connection to 127.0.0.1:PORT (the test listens there).
 * `try_ptrace`: ptrace(PTRACE_PEEKUSER) on pid 1, which we do not trace: ESRCH normally,
 *   EPERM under the deny list.
 * `try_keyctl`: keyctl(KEYCTL_GET_KEYRING_ID) of the session keyring, without creating it. */
#include <isolator/plugin.hpp>

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

ISOLATOR_PLUGIN_EXPORT int try_connect(int argc, char** argv) {
  if (argc < 2) return -1;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  struct sockaddr_in address = {0};
  address.sin_family = AF_INET;
  address.sin_port = htons((unsigned short)atoi(argv[1]));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int result = connect(fd, (struct sockaddr*)&address, sizeof address) == 0 ? 0 : errno;
  close(fd);
  return result;
}

ISOLATOR_PLUGIN_EXPORT int try_ptrace(int argc, char** argv) {
  (void)argc;
  (void)argv;
  errno = 0;
  ptrace(PTRACE_PEEKUSER, 1, 0, 0);
  return errno;
}

ISOLATOR_PLUGIN_EXPORT int try_keyctl(int argc, char** argv) {
  (void)argc;
  (void)argv;
  /* KEYCTL_GET_KEYRING_ID = 0, KEY_SPEC_SESSION_KEYRING = -3, create = 0 */
  return syscall(SYS_keyctl, 0, -3, 0) >= 0 ? 0 : errno;
}
