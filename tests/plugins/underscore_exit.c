/* Calls _exit(argv[1]): no atexit handlers, no stdio flush. */
#include <isolator/plugin.hpp>

#include <stdlib.h>
#include <unistd.h>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) { _exit(argc > 1 ? atoi(argv[1]) : 0); }
