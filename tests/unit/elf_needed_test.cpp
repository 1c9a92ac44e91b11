// needed_libraries() (pihost/src/elf_needed.hpp): the DT_NEEDED names of a real executable,
// and nothing (never a crash or a hang) from files that are not whole ELF objects.
#include "elf_needed.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace pihost {
namespace {

namespace fs = std::filesystem;

std::string contents_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

TEST(ElfNeeded, ReadsTheNamesThisTestProgramNeeds) {
  const auto names = needed_libraries("/proc/self/exe");
  EXPECT_NE(std::find(names.begin(), names.end(), "libc.so.6"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "libstdc++.so.6"), names.end());
}

TEST(ElfNeeded, GivesNothingForWhatIsNotAnElfFile) {
  isolator::test::TempDir dir;
  write(dir.path() / "text", "#!/bin/sh\necho not a library\n");
  write(dir.path() / "empty", "");
  write(dir.path() / "magic-only", "\x7f" "ELF");
  EXPECT_TRUE(needed_libraries((dir.path() / "text").string()).empty());
  EXPECT_TRUE(needed_libraries((dir.path() / "empty").string()).empty());
  EXPECT_TRUE(needed_libraries((dir.path() / "magic-only").string()).empty());
  EXPECT_TRUE(needed_libraries((dir.path() / "missing").string()).empty());
  EXPECT_TRUE(needed_libraries(dir.path().string()).empty()) << "a directory";
}

TEST(ElfNeeded, CutOrCorruptedCopiesAreReadWithinTheFileOrNotAtAll) {
  // Every prefix length class, and bytes flipped at random in the headers and the dynamic
  // section: each read stays inside the file (the reader checks every offset), so the worst
  // is a short or empty list. The copy is written once: the rounds change a few bytes of it
  // in place and put them back, and the prefixes cut it shorter and shorter.
  const std::string whole = contents_of("/proc/self/exe");
  ASSERT_GT(whole.size(), 4096u);
  isolator::test::TempDir dir;
  const fs::path copy = dir.path() / "copy";
  write(copy, whole);
  std::mt19937 random(12345);
  {
    std::fstream file(copy, std::ios::in | std::ios::out | std::ios::binary);
    for (int round = 0; round < 200; ++round) {
      std::vector<std::size_t> flipped;
      for (int flips = 0; flips < 8; ++flips) {
        const std::size_t at = random() % std::min<std::size_t>(whole.size(), 8192);
        flipped.push_back(at);
        file.seekp(static_cast<std::streamoff>(at));
        file.put(static_cast<char>(random()));
      }
      file.flush();
      for (const auto& name : needed_libraries(copy.string())) EXPECT_LT(name.size(), whole.size());
      for (const std::size_t at : flipped) {
        file.seekp(static_cast<std::streamoff>(at));
        file.put(whole[at]);
      }
      file.flush();
    }
  }
  for (std::size_t length : {whole.size() - 1, whole.size() / 2, std::size_t{4096}, std::size_t{1000},
                             std::size_t{200}, std::size_t{64}, std::size_t{63}, std::size_t{16}}) {
    fs::resize_file(copy, length);
    const auto names = needed_libraries(copy.string());
    EXPECT_LE(names.size(), 1024u) << length;
  }
}

}  // namespace
}  // namespace pihost
