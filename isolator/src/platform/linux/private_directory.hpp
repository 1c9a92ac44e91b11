// The private directory of one isolator: created mode 0700 with mkdtemp, it holds the
// channel's socket and the child's working directory, and is removed with everything in it
// when the owner goes.
#pragma once

#include <filesystem>

namespace isolator::detail {

class PrivateDirectory {
 public:
  /// Creates `isolator-<pid>-<starttime>-XXXXXX` under base_directory(): the name tells a
  /// later host's sweep whose it is. Throws StartError naming the path and errno text.
  PrivateDirectory();

  /// $XDG_RUNTIME_DIR, else $TMPDIR, else /tmp.
  static std::filesystem::path base_directory();
  /// The child's working directory inside, made by the child's spawner.
  static constexpr const char* working_directory_name = "work";
  /// Removes the directory tree (symlinks inside are removed, never followed). What it
  /// usually holds, an empty working directory, is removed without opening anything, so that
  /// it goes even when the process has no file descriptor left.
  ~PrivateDirectory();
  PrivateDirectory(const PrivateDirectory&) = delete;
  PrivateDirectory& operator=(const PrivateDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace isolator::detail
