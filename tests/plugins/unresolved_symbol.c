/* Calls a function no library defines: dlopen(RTLD_NOW) must refuse it. */
#include <isolator/plugin.hpp>

extern int isolator_test_function_that_does_not_exist(void);

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  (void)argc;
  (void)argv;
  return isolator_test_function_that_does_not_exist();
}
