// A program (not a plugin) for integration/program_test.cpp: touches memory 1 MiB at a time
// up to argv[1] MiB, then exits 0; exits 42 when an allocation fails (an address-space
// limit). Run only under a memory limit smaller than what it asks for.
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  const long mebibytes = argc > 1 ? strtol(argv[1], NULL, 10) : 256;
  for (long i = 0; i < mebibytes; ++i) {
    char* block = malloc(1 << 20);
    if (block == NULL) return 42;
    memset(block, 1, 1 << 20);
  }
  return 0;
}
