// Allocates and touches memory 8 MiB at a time, up to argv[1] MiB (bounded), then returns
// how many MiB it got. Under a memory limit it is OOM-killed (cgroups) or gets std::bad_alloc
// (RLIMIT_AS).
#include <isolator/plugin.hpp>

#include <cstdlib>
#include <cstring>
#include <vector>

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  const int mib = argc > 1 ? std::atoi(argv[1]) : 256;
  std::vector<char*> blocks;
  int got = 0;
  while (got < mib) {
    char* block = new char[8 << 20];
    std::memset(block, 1, 8 << 20);
    blocks.push_back(block);
    got += 8;
  }
  for (char* block : blocks) delete[] block;
  return got;
}
