// A fresh temporary directory for one test, removed with everything in it at the end. For
// the unit and the integration tests alike.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace isolator::test {

/// A fresh directory under the temporary directory, at its canonical path (TMPDIR may be a
/// link), removed at the end. Throws std::runtime_error when it cannot be made.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "isolator-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot make a directory like " + pattern);
    path_ = std::filesystem::canonical(pattern);
    // Searchable by others: under a root host the sandboxed child runs as another user
    // (Options::protection.root_host_uid), and loads the plugins the tests put here.
    std::filesystem::permissions(path_, std::filesystem::perms::others_exec | std::filesystem::perms::group_exec,
                                 std::filesystem::perm_options::add);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace isolator::test
