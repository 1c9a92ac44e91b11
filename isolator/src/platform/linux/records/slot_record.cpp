// The Linux SlotRecord (platform/records.hpp): one record file per child slot, rewritten by
// rename when its child changes, and an 8-byte calls counter mapped shared, which isolatorctl
// reads. The record's JSON is written here by hand: the library takes no JSON dependency for
// a dozen fields, and every string in it goes through json_string().
#include "platform/records.hpp"

#include "../containment/cgroupfs.hpp"
#include "log.hpp"
#include "record_directory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <locale>
#include <mutex>
#include <sstream>

namespace isolator::detail {

namespace fs = std::filesystem;

namespace {

constexpr int record_format = 1;

// A JSON string literal of `text`: quotes, backslashes and control characters escaped.
// Bytes of 0x80 and above pass as they are (a path that is not UTF-8 makes a record that
// isolatorctl reports as unreadable, rather than one that says something else).
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

template <typename T>
std::string json_optional(const std::optional<T>& value) {
  if (!value) return "null";
  std::ostringstream out;
  out.imbue(std::locale::classic());  // JSON numbers, whatever the host's global locale
  out << *value;
  return out.str();
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string self_executable() {
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  return error ? std::string() : exe.string();
}

std::string limits_json(const Limits& limits) {
  std::string affinity = "[";
  for (std::size_t i = 0; i < limits.cpu_affinity.size(); ++i) {
    affinity += (i ? "," : "") + std::to_string(limits.cpu_affinity[i]);
  }
  affinity += "]";
  const auto cpu_ms = limits.cpu_time_per_call
                          ? std::optional<std::int64_t>(limits.cpu_time_per_call->count())
                          : std::nullopt;
  return "{\"memory_bytes\":" + json_optional(limits.memory_bytes) +
         ",\"cpu_percent\":" + json_optional(limits.cpu_percent) +
         ",\"max_pids\":" + json_optional(limits.max_pids) + ",\"cpu_time_per_call_ms\":" + json_optional(cpu_ms) +
         ",\"cpu_affinity\":" + affinity + "}";
}

class LinuxSlotRecord final : public SlotRecord {
 public:
  LinuxSlotRecord(fs::path dir, std::string id, std::string fixed, std::uint64_t* counter)
      : dir_(std::move(dir)), id_(std::move(id)), fixed_(std::move(fixed)), counter_(counter) {
    write(std::nullopt);
  }

  ~LinuxSlotRecord() override {
    ::unlink((dir_ / (id_ + records::record_suffix)).c_str());
    ::unlink((dir_ / (id_ + records::calls_suffix)).c_str());
    ::munmap(counter_, sizeof *counter_);
  }

  void child_ready(int pid) override { write(pid); }

  void call_served() override {
    std::atomic_ref<std::uint64_t>(*counter_).fetch_add(1, std::memory_order_relaxed);
  }

 private:
  // Written whole to a temporary file and renamed over the record, so that a reader sees the
  // old record or the new one, never a part.
  void write(std::optional<int> pid) {
    std::string pihost = "null";
    if (pid) {
      pihost = "{\"pid\":" + std::to_string(*pid) +
               ",\"start_time\":" + std::to_string(cgroupfs::start_time(*pid).value_or(0)) +
               ",\"started_unix_ms\":" + std::to_string(unix_ms_now()) + "}";
    }
    const std::string text = fixed_ + ",\"pihost\":" + pihost + "}\n";
    const fs::path final_path = dir_ / (id_ + records::record_suffix);
    const fs::path temporary = dir_ / (id_ + records::record_suffix + ".tmp");
    // A new file (O_EXCL, after removing whatever is there): never one planted under the
    // name, such as a hard link to a file of the user's.
    ::unlink(temporary.c_str());
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int error = fd < 0 ? errno : 0;
    bool written = fd >= 0;
    if (written) {
      const ssize_t n = ::write(fd, text.data(), text.size());
      if (n != static_cast<ssize_t>(text.size())) {
        error = n < 0 ? errno : ENOSPC;
        written = false;
      }
      ::close(fd);
    }
    if (written && ::rename(temporary.c_str(), final_path.c_str()) != 0) {
      error = errno;
      written = false;
    }
    if (!written) {
      log().warn("cannot publish the record {} for isolatorctl: {}", final_path.string(), std::strerror(error));
      ::unlink(temporary.c_str());
    }
  }

  const fs::path dir_;
  const std::string id_;
  const std::string fixed_;  // the record up to its "pihost" member
  std::uint64_t* const counter_;
};

}  // namespace

std::unique_ptr<SlotRecord> publish_slot(const Options& options, const std::string& kind,
                                         const std::string& containment, const Limits& limits) {
  if (!options.publish_records) return nullptr;
  try {
    const fs::path dir = records::directory(options.records_directory);
    if (const auto problem = records::check(dir, true); !problem.empty()) {
      static std::once_flag warned;
      std::call_once(warned, [&] { log().warn("publishing nothing for isolatorctl: {}", problem); });
      return nullptr;
    }
    static std::once_flag swept;
    std::call_once(swept, [&] { records::sweep(dir); });

    static std::atomic<std::uint64_t> next{0};
    const std::string id = cgroupfs::host_tag() + "-" + std::to_string(next++);
    // The counter first: the record names it, so it must exist before the record does.
    const fs::path calls = dir / (id + records::calls_suffix);
    ::unlink(calls.c_str());  // a new file, never one planted under the name (see write())
    const int fd = ::open(calls.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      log().warn("cannot publish the record {} for isolatorctl: {}", calls.string(), std::strerror(errno));
      return nullptr;
    }
    void* mapped = MAP_FAILED;
    if (::ftruncate(fd, sizeof(std::uint64_t)) == 0) {
      mapped = ::mmap(nullptr, sizeof(std::uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    const int error = errno;
    ::close(fd);
    if (mapped == MAP_FAILED) {
      log().warn("cannot map the calls counter {} for isolatorctl: {}", calls.string(), std::strerror(error));
      ::unlink(calls.c_str());
      return nullptr;
    }
    const std::string fixed = "{\"format\":" + std::to_string(record_format) + ",\"id\":" + json_string(id) +
                              ",\"kind\":" + json_string(kind) + ",\"uid\":" + std::to_string(::geteuid()) +
                              ",\"host\":{\"pid\":" + std::to_string(::getpid()) +
                              ",\"start_time\":" + std::to_string(cgroupfs::start_time(::getpid()).value_or(0)) +
                              ",\"executable\":" + json_string(self_executable()) + "}" +
                              ",\"containment\":" + json_string(containment) + ",\"limits\":" + limits_json(limits) +
                              ",\"created_unix_ms\":" + std::to_string(unix_ms_now());
    return std::make_unique<LinuxSlotRecord>(dir, id, fixed, static_cast<std::uint64_t*>(mapped));
  } catch (const std::exception& e) {
    log().warn("publishing nothing for isolatorctl: {}", e.what());
    return nullptr;
  }
}

}  // namespace isolator::detail
