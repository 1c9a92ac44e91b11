/* A plugin whose dependencies lie beside it (or in a search-path directory) and which has no
 * RUNPATH: libplugin_uses_deps.so needs libdep_middle.so (which needs libdep_deep.so).
 * `method` returns dep_middle() (42). */
#include <isolator/plugin.hpp>

int dep_middle(void);

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return dep_middle();
}
