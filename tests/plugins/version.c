/* Two builds of one plugin, for reloading: libplugin_version_one.so's `method` returns 1,
 * libplugin_version_two.so's returns 2 and is larger (PADDING bytes of data), so that writing
 * one over the other in place changes the file's size. */
#include <isolator/plugin.hpp>

#ifndef PADDING
#define PADDING 1
#endif
const char isolator_test_padding[PADDING] = {1};

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return VERSION + 0 * isolator_test_padding[0];
}
