// Runs the fuzzers' check over every file of the directories given: the seed corpus and
// fuzz/regressions/ (inputs that once crashed a fuzzer). Built with the normal compiler and
// run by ctest, so that no fixed crash comes back unnoticed.
#include "frames_fuzzer.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

int main(int argc, char** argv) {
  int files = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::filesystem::is_directory(argv[i])) continue;
    for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
      if (!entry.is_regular_file() || entry.path().filename().string()[0] == '.') continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), {});
      const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
      isolator::fuzz::receive(data, bytes.size(), isolator::wire::Sender::child, 1 << 16);
      isolator::fuzz::receive(data, bytes.size(), isolator::wire::Sender::host, 1 << 16);
      ++files;
    }
  }
  std::printf("replayed %d inputs without a crash\n", files);
  return files > 0 ? 0 : 1;
}
