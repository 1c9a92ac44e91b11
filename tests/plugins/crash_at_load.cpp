// A static initializer that crashes while the library is loaded, before any method runs.
#include <isolator/plugin.hpp>

namespace {
int* volatile nowhere = nullptr;  // volatile: the compiler cannot prove the store away
struct CrashOnLoad {
  CrashOnLoad() { *nowhere = 1; }
};
CrashOnLoad crash_on_load;
}  // namespace

ISOLATOR_PLUGIN_EXPORT int method(int, char**) { return 0; }
