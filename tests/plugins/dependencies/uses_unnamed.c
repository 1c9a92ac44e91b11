/* A plugin that needs libdep_unnamed.so, a library without a SONAME. `method` returns 7. */
#include <isolator/plugin.hpp>

int dep_unnamed(void);

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return dep_unnamed();
}
