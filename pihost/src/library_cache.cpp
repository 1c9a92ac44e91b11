#include "library_cache.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pihost {
namespace {

using isolator::wire::FailureReason;

Resolution failure(FailureReason reason, std::string message) {
  return Resolution{nullptr, reason, std::move(message)};
}

std::string quoted(const std::string& path) { return "'" + path + "'"; }

// Reads the first bytes to tell "not ELF at all" apart from what dlopen would say.
std::string elf_problem(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot open it: " + std::string(std::strerror(errno));
  unsigned char magic[4] = {};
  const ssize_t n = ::read(fd, magic, sizeof(magic));
  ::close(fd);
  if (n == 0) return "the file is empty";
  if (n < 4 || std::memcmp(magic,
                           "\x7f"
                           "ELF",
                           4) != 0) {
    return "it does not start with the ELF magic bytes (is it a text file or an archive?)";
  }
  return {};
}

}  // namespace

Resolution LibraryCache::load(const std::string& path, const std::vector<std::string>& search_path,
                              void*& handle) {
  if (path.empty() || path.front() != '/') {
    return failure(FailureReason::library_not_found,
                   "library path " + quoted(path) +
                       " is not absolute; pass an absolute path (pihost runs in a private "
                       "working directory)");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int error = errno;
    return failure(FailureReason::library_not_found,
                   error == ENOENT  ? "no such file: " + quoted(path)
                   : error == EACCES ? "cannot access " + quoted(path) + ": " + std::strerror(error) +
                                           " (pihost runs as uid " + std::to_string(::geteuid()) +
                                           ": the library and every directory above it must be readable by that user)"
                                     : "cannot access " + quoted(path) + ": " + std::strerror(error));
  }
  if (S_ISDIR(st.st_mode)) {
    return failure(FailureReason::not_a_library, quoted(path) + " is a directory, not a shared library");
  }
  if (!S_ISREG(st.st_mode)) {
    return failure(FailureReason::not_a_library,
                   quoted(path) + " is not a regular file, so not a shared library");
  }
  if (auto problem = elf_problem(path); !problem.empty()) {
    return failure(FailureReason::not_a_library, quoted(path) + " is not an ELF shared library: " + problem);
  }
  links_.prepare(path, search_path);
  handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const std::string error = ::dlerror();
    if (auto missing = links_.missing(path, search_path, error)) {
      return failure(FailureReason::dependency_not_found, std::move(*missing));
    }
    // The library itself cannot be opened (it was there a moment ago): a missing file.
    const bool cannot_open = error.find("cannot open shared object file") != std::string::npos;
    return failure(cannot_open ? FailureReason::library_not_found : FailureReason::not_a_library,
                   "dlopen " + quoted(path) + " failed: " + error);
  }
  return {};
}

Resolution LibraryCache::resolve(const std::string& path, const std::string& symbol,
                                 const std::vector<std::string>& search_path) {
  auto found = handles_.find(path);
  if (found == handles_.end()) {
    void* handle = nullptr;
    if (auto result = load(path, search_path, handle); handle == nullptr) return result;
    found = handles_.emplace(path, handle).first;
  }
  ::dlerror();  // clear any stale error so the one below belongs to this lookup
  void* address = ::dlsym(found->second, symbol.c_str());
  if (address == nullptr) {
    const char* error = ::dlerror();
    return failure(FailureReason::symbol_not_found,
                   quoted(path) + " has no symbol " + quoted(symbol) +
                       (error != nullptr ? ": " + std::string(error) : std::string()));
  }
  return Resolution{reinterpret_cast<Method>(address), {}, {}};
}

}  // namespace pihost
