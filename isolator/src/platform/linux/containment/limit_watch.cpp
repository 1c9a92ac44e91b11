#include "limit_watch.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace isolator::detail {

std::string_view first_line(std::string_view text) { return text.substr(0, text.find('\n')); }

std::optional<ChangedLimit> compare_limit(const std::string& name, std::string_view set,
                                          std::optional<std::string_view> found, int read_errno) {
  if (found && first_line(*found) == first_line(set)) return std::nullopt;
  std::string now = found ? std::string(first_line(*found))
                          : "(unreadable: " + std::string(std::strerror(read_errno)) + ")";
  return ChangedLimit{name, std::string(first_line(set)), std::move(now)};
}

std::string rlimit_text(std::uint64_t value) {
  return value == RLIM_INFINITY ? "unlimited" : std::to_string(value);
}

std::optional<ChangedLimit> compare_rlimit(const std::string& name, std::uint64_t set,
                                           std::optional<std::uint64_t> hard_found, int read_errno) {
  if (!hard_found) return compare_limit(name, rlimit_text(set), std::nullopt, read_errno);
  return compare_limit(name, rlimit_text(set), rlimit_text(*hard_found));
}

void WatchedLimitFiles::watch(const std::filesystem::path& file, std::string set) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  const int open_errno = fd ? 0 : errno;
  files_.push_back(Watched{file, std::move(set), std::move(fd), open_errno});
}

void WatchedLimitFiles::expect(const std::filesystem::path& file, std::string set) {
  for (auto& watched : files_) {
    if (watched.file == file) {
      watched.set = std::move(set);
      return;
    }
  }
  watch(file, std::move(set));
}

std::vector<ChangedLimit> WatchedLimitFiles::changed() const {
  std::vector<ChangedLimit> changes;
  for (const auto& watched : files_) {
    // A limit file holds one short line ("9223372036854771712", "max 100000"); the kernel
    // renders it afresh on every read from offset 0.
    std::array<char, 128> text{};
    ssize_t n = -1;
    int error = watched.open_errno;
    if (watched.fd) {
      do {
        n = ::pread(watched.fd.get(), text.data(), text.size(), 0);
      } while (n < 0 && errno == EINTR);
      if (n < 0) error = errno;
    }
    const auto found = n >= 0 ? std::optional<std::string_view>(std::string_view(text.data(), n))
                              : std::nullopt;
    if (auto change = compare_limit(watched.file.native(), watched.set, found, error)) {
      changes.push_back(std::move(*change));
    }
  }
  return changes;
}

}  // namespace isolator::detail
