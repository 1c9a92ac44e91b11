#include "private_directory.hpp"

#include "containment/cgroupfs.hpp"
#include "log.hpp"

#include <isolator/errors.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

namespace isolator::detail {
std::filesystem::path PrivateDirectory::base_directory() {
  for (const char* name : {"XDG_RUNTIME_DIR", "TMPDIR"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] == '/') return value;
  }
  return "/tmp";
}

PrivateDirectory::PrivateDirectory() {
  std::string pattern = (base_directory() / (cgroupfs::host_tag() + "-XXXXXX")).string();
  // mkdtemp creates the directory with mode 0700 and never reuses an existing path.
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw StartError("cannot create a private directory " + pattern + ": " + std::strerror(errno) +
                     " (set TMPDIR or XDG_RUNTIME_DIR to a writable directory)");
  }
  path_ = pattern;
  // What mkdtemp made must be ours alone: a directory (not a link planted in a race), owned
  // by this user, mode 0700. Anything else is refused rather than used.
  struct stat made {};
  if (::lstat(pattern.c_str(), &made) != 0 || !S_ISDIR(made.st_mode) || made.st_uid != ::geteuid() ||
      (made.st_mode & 0777) != 0700) {
    const std::string what = S_ISLNK(made.st_mode) ? "a symbolic link"
                                                   : "not a directory of ours with mode 0700";
    ::rmdir(pattern.c_str());
    throw StartError("the private directory " + pattern + " is " + what + "; refusing to use it (is " +
                     base_directory().string() + " shared and writable by others?)");
  }
}

PrivateDirectory::~PrivateDirectory() {
  // rmdir needs no descriptor, remove_all does (it lists the directory): a start that failed
  // for want of descriptors would otherwise leave the directory behind. The socket files are
  // unlinked by their children; what a plugin left in the working directory needs remove_all.
  ::rmdir((path_ / working_directory_name).c_str());
  if (::rmdir(path_.c_str()) == 0) return;
  std::error_code error;
  // remove_all removes symlinks themselves and does not follow them.
  std::filesystem::remove_all(path_, error);
  if (error) log().warn("cannot remove {}: {}", path_.string(), error.message());
}

}  // namespace isolator::detail
