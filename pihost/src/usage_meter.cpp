#include "usage_meter.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>

namespace pihost {
namespace {

std::int64_t micros(const timeval& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000 + t.tv_usec; }

// A /proc/self file held open at a descriptor of 100 or more (out of the plugin's way) for
// the life of pihost. Both are opened at start, while pihost is still dumpable: once it is
// not, clear_refs belongs to root and a non-root pihost (a sandboxed one among them) could
// no longer open it; the open descriptor stays usable. Holding /proc/self/status open saves
// an open and a close per call: measured on this VM, 3.5 us for a pread of the held file
// against 8 us to open, read and close it (docs/performance.md).
//
// The plugin runs in this process and may close any descriptor; the number may then name a
// file of its own. clear_refs is written, so its identity is checked (fstat) before each
// write; status is only read, and its content shows whether it is still status.
class HeldProcFile {
 public:
  HeldProcFile(const char* path, int flags) : path_(path), flags_(flags) { reopen(); }

  int fd() const { return fd_; }

  /// True when the descriptor still names the file it was opened on.
  bool still_ours() const {
    struct stat now {};
    return fd_ >= 0 && ::fstat(fd_, &now) == 0 && now.st_dev == device_ && now.st_ino == inode_;
  }

  /// Opens the file (again, after the plugin closed or reused the descriptor: the old
  /// number is not closed, it may be the plugin's now).
  void reopen() {
    fd_ = -1;
    const int opened = ::open(path_, flags_ | O_CLOEXEC);
    if (opened < 0) return;
    const int high = ::fcntl(opened, F_DUPFD_CLOEXEC, 100);
    if (high >= 0) ::close(opened);
    fd_ = high >= 0 ? high : opened;
    struct stat st {};
    if (::fstat(fd_, &st) == 0) {
      device_ = st.st_dev;
      inode_ = st.st_ino;
    }
  }

 private:
  const char* path_;
  int flags_;
  int fd_ = -1;
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

HeldProcFile& clear_refs() {
  static HeldProcFile file("/proc/self/clear_refs", O_WRONLY);
  return file;
}

HeldProcFile& status() {
  static HeldProcFile file("/proc/self/status", O_RDONLY);
  return file;
}

void reset_peak_rss() {
  // "5" resets VmHWM to the current RSS (Documentation/filesystems/proc.rst, clear_refs).
  // Not reopened when lost: that needs pihost dumpable; the peak is then since start.
  if (!clear_refs().still_ours()) return;
  [[maybe_unused]] const ssize_t n = ::write(clear_refs().fd(), "5", 1);
}

struct ResidentSet {
  std::int64_t peak_bytes = 0;     // VmHWM
  std::int64_t current_bytes = 0;  // VmRSS
};

// A value in kB of a /proc/self/status field ("\nVmHWM:"), in bytes; -1 when absent.
std::int64_t status_kib(const char* text, const char* field) {
  const char* line = std::strstr(text, field);
  long long kib = 0;
  if (line == nullptr || std::sscanf(line + std::strlen(field), " %lld kB", &kib) != 1) return -1;
  return static_cast<std::int64_t>(kib) * 1024;
}

std::optional<ResidentSet> read_resident_set(int fd) {
  if (fd < 0) return std::nullopt;
  char text[4096];
  const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
  if (n <= 0) return std::nullopt;
  text[n] = '\0';
  const std::int64_t peak = status_kib(text, "\nVmHWM:");
  const std::int64_t current = status_kib(text, "\nVmRSS:");
  if (peak < 0 || current < 0) return std::nullopt;  // not status (any more)
  return ResidentSet{peak, current};
}

ResidentSet resident_set() {
  if (auto held = read_resident_set(status().fd())) return *held;
  status().reopen();
  return read_resident_set(status().fd()).value_or(ResidentSet{});
}

}  // namespace

void UsageMeter::prepare() {
  clear_refs();
  status();
}

void UsageMeter::start() {
  if (peak_above_current_) reset_peak_rss();
  ::getrusage(RUSAGE_SELF, &before_);
  started_ = std::chrono::steady_clock::now();
}

isolator::wire::Usage UsageMeter::stop() {
  const auto wall = std::chrono::steady_clock::now() - started_;
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  const ResidentSet rss = resident_set();
  peak_above_current_ = rss.peak_bytes == 0 || rss.peak_bytes > rss.current_bytes;
  return isolator::wire::Usage{
      std::chrono::duration_cast<std::chrono::microseconds>(wall).count(),
      micros(after.ru_utime) - micros(before_.ru_utime),
      micros(after.ru_stime) - micros(before_.ru_stime),
      rss.peak_bytes,
  };
}

}  // namespace pihost
