/* The cold-call floor: the least a fresh process can do to call a plugin. It dlopens the
 * library in argv[1], calls its `method` and exits with the method's code (or 127). */
#include <dlfcn.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 127;
  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) return 127;
  int (*method)(int, char**) = (int (*)(int, char**))dlsym(library, "method");
  if (method == NULL) return 127;
  _exit(method(argc - 1, argv + 1) & 0x7f);
}
