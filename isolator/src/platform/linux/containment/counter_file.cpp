#include "counter_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace isolator::detail::cgroupfs {
namespace {

std::optional<std::uint64_t> number_at(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  return value;
}

}  // namespace

CounterFile::CounterFile(const std::filesystem::path& file)
    : fd_(::open(file.c_str(), O_RDONLY | O_CLOEXEC)), open_error_(fd_ ? 0 : errno) {}

bool CounterFile::refresh() {
  size_ = 0;
  if (!fd_) return false;
  ssize_t n = 0;
  do {
    n = ::pread(fd_.get(), text_.data(), text_.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  size_ = static_cast<std::size_t>(n);
  return true;
}

std::optional<std::uint64_t> CounterFile::value(std::string_view key) const {
  const std::string_view text(text_.data(), size_);
  if (key.empty()) return size_ == 0 ? std::nullopt : number_at(text);
  std::size_t line = 0;
  while (line < text.size()) {
    std::size_t end = text.find('\n', line);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view current = text.substr(line, end - line);
    if (current.size() > key.size() && current.substr(0, key.size()) == key && current[key.size()] == ' ') {
      return number_at(current.substr(key.size() + 1));
    }
    line = end + 1;
  }
  return std::nullopt;
}

}  // namespace isolator::detail::cgroupfs
