/* `method MARKER`: the first time (MARKER does not exist) creates MARKER and dies of
 * SIGSEGV; every later time returns 42. For retry tests: the state lives in the file, so it
 * survives the child. */
#include <isolator/plugin.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  if (argc < 2) return -1;
  if (access(argv[1], F_OK) == 0) return 42;
  const int fd = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  raise(SIGSEGV);
  return -2;
}
