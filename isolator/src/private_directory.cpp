#include "private_directory.hpp"

#include "containment/cgroupfs.hpp"
#include "log.hpp"

#include <isolator/errors.hpp>

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
    throw StartError("cannot create a private directory " + pattern + ": " +
                     std::strerror(errno) +
                     " (set TMPDIR or XDG_RUNTIME_DIR to a writable directory)");
  }
  path_ = pattern;
}

PrivateDirectory::~PrivateDirectory() {
  std::error_code error;
  // remove_all removes symlinks themselves and does not follow them.
  std::filesystem::remove_all(path_, error);
  if (error) log().warn("cannot remove {}: {}", path_.string(), error.message());
}

}  // namespace isolator::detail
