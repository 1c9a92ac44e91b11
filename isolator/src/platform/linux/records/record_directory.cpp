#include "record_directory.hpp"

#include "../containment/cgroupfs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace isolator::detail::records {

namespace fs = std::filesystem;

namespace {

const char* absolute_env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] == '/' ? value : nullptr;
}

// Whether `dir` is this user's own directory (a root host started with another user's
// XDG_RUNTIME_DIR, by `su` or `sudo -E`, must not put its records where that user rules).
bool owned_by_me(const char* dir) {
  struct stat st {};
  return ::stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid();
}

}  // namespace

fs::path directory(const fs::path& configured) {
  if (!configured.empty()) return configured;
  if (const char* dir = absolute_env("ISOLATOR_RUNTIME_DIR")) return dir;
  // The user's runtime directory (systemd's /run/user/UID): private to the user, and gone at
  // logout, as the records should be.
  if (const char* runtime = absolute_env("XDG_RUNTIME_DIR"); runtime != nullptr && owned_by_me(runtime)) {
    return fs::path(runtime) / "isolator";
  }
  if (::geteuid() == 0) return "/run/isolator";
  return "/tmp/isolator-" + std::to_string(::geteuid());
}

std::string check(const fs::path& dir, bool create) {
  if (create && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return "cannot create the records directory " + dir.string() + ": " + std::strerror(errno) +
           " (make its parent, or set ISOLATOR_RUNTIME_DIR or Options::records_directory to a directory "
           "of yours)";
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    return "cannot read the records directory " + dir.string() + ": " + std::strerror(errno);
  }
  // Anyone who can write here could plant records, or links where records are written.
  const std::string fix = " (remove it, or set ISOLATOR_RUNTIME_DIR or Options::records_directory to a "
                          "directory of yours with mode 0700)";
  if (S_ISLNK(st.st_mode)) return "the records directory " + dir.string() + " is a symbolic link" + fix;
  // Its parent too: whoever may rename entries there could swap the directory after this
  // check. The parent must be this user's or root's, and writable by no one else unless it
  // is sticky (/tmp, where others cannot rename what is not theirs).
  struct stat parent {};
  const fs::path up = dir.parent_path();
  if (::stat(up.c_str(), &parent) != 0 || (parent.st_uid != ::geteuid() && parent.st_uid != 0) ||
      ((parent.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (parent.st_mode & S_ISVTX) == 0)) {
    return "the records directory " + dir.string() + " lies in " + up.string() +
           ", which another user can change" + fix;
  }
  if (!S_ISDIR(st.st_mode)) return "the records directory " + dir.string() + " is not a directory" + fix;
  if (st.st_uid != ::geteuid()) {
    return "the records directory " + dir.string() + " belongs to uid " + std::to_string(st.st_uid) +
           ", not to this user (uid " + std::to_string(::geteuid()) + ")" + fix;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "the records directory " + dir.string() + " is writable by its group or by others" + fix;
  }
  return {};
}

int sweep(const fs::path& dir) {
  int swept = 0;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("isolator-", 0) != 0 || !cgroupfs::names_a_dead_host(name)) continue;
    if (::unlink(it->path().c_str()) == 0 && name.size() > std::strlen(record_suffix) &&
        name.ends_with(record_suffix)) {
      ++swept;
    }
  }
  return swept;
}

}  // namespace isolator::detail::records
