#include "cgroupfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace isolator::detail::cgroupfs {
namespace {

namespace fs = std::filesystem;

// The whole of a small /proc or cgroup file, with plain system calls (iostreams cost more
// than the kernel here); nothing when it cannot be read, with its errno in `error`.
std::optional<std::string> slurp(const char* file, int& error) {
  const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno;
    return std::nullopt;
  }
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = errno;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

// Calls `each` with every line of `text`, without its newline.
template <typename Each>
void for_each_line(std::string_view text, Each each) {
  while (!text.empty()) {
    const auto end = text.find('\n');
    each(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

// The space-separated fields of a line.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  while (!line.empty()) {
    const auto start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    const auto end = line.find(' ');
    fields.push_back(line.substr(0, end));
    if (end == std::string_view::npos) break;
    line.remove_prefix(end);
  }
  return fields;
}

bool in_comma_list(std::string_view list, std::string_view word) {
  while (true) {
    const auto end = list.find(',');
    if (list.substr(0, end) == word) return true;
    if (end == std::string_view::npos) return false;
    list.remove_prefix(end + 1);
  }
}

}  // namespace

Hierarchies Hierarchies::read() {
  int mountinfo_error = 0;
  int cgroup_error = 0;
  const auto mountinfo = slurp("/proc/self/mountinfo", mountinfo_error);
  const auto cgroup = slurp("/proc/self/cgroup", cgroup_error);
  Hierarchies h = parse(mountinfo.value_or(""), cgroup.value_or(""));
  h.read_error_ = mountinfo_error != 0 ? mountinfo_error : cgroup_error;
  return h;
}

Hierarchies Hierarchies::parse(std::string_view mountinfo, std::string_view cgroup) {
  Hierarchies h;
  // id parent major:minor root mount-point options [optional...] - type source super-options
  for_each_line(mountinfo, [&](std::string_view line) {
    const auto fields = fields_of(line);
    std::size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (fields.size() < 6 || dash + 1 >= fields.size()) return;
    const std::string_view type = fields[dash + 1];
    if (type != "cgroup" && type != "cgroup2") return;
    h.mounts_.push_back(Mount{fs::path(std::string(fields[4])), std::string(fields[3]), type == "cgroup2",
                              dash + 3 < fields.size() ? std::string(fields[dash + 3]) : std::string()});
  });
  // hierarchy-id:controllers:path
  for_each_line(cgroup, [&](std::string_view line) {
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) return;
    h.memberships_.push_back(Membership{std::string(line.substr(first + 1, second - first - 1)),
                                        std::string(line.substr(second + 1))});
  });
  return h;
}

// The path of this process's cgroup in the hierarchy of `controller` ("" for v2).
std::optional<std::string> Hierarchies::own_path(std::string_view controller) const {
  for (const auto& m : memberships_) {
    if (controller.empty() ? m.controllers.empty() : in_comma_list(m.controllers, controller)) return m.path;
  }
  return std::nullopt;
}

namespace {

fs::path join(const fs::path& point, const std::string& root, const std::string& own) {
  // Inside a container the mount's root may be our own cgroup: strip it.
  std::string relative = own;
  if (root != "/" && relative.rfind(root, 0) == 0) relative = relative.substr(root.size());
  const fs::path inside = fs::path(relative).relative_path();
  return inside.empty() ? point : point / inside;
}

}  // namespace

std::vector<fs::path> Hierarchies::mount_points() const {
  std::vector<fs::path> points;
  for (const auto& mount : mounts_) points.push_back(mount.point);
  return points;
}

std::optional<fs::path> Hierarchies::v1_directory(std::string_view controller) const {
  const auto own = own_path(controller);
  if (!own) return std::nullopt;
  for (const auto& mount : mounts_) {
    if (!mount.v2 && in_comma_list(mount.super_options, controller))
      return join(mount.point, mount.root, *own);
  }
  return std::nullopt;
}

std::optional<fs::path> Hierarchies::v2_directory() const {
  const auto own = own_path("");
  if (!own) return std::nullopt;
  for (const auto& mount : mounts_) {
    if (mount.v2) return join(mount.point, mount.root, *own);
  }
  return std::nullopt;
}

std::optional<std::string> read(const fs::path& file, int* error) {
  int failure = 0;
  auto text = slurp(file.c_str(), failure);
  if (error != nullptr) *error = failure;
  return text;
}

std::string write(const fs::path& file, const std::string& value, int* error) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int failure = errno;
    if (error != nullptr) *error = failure;
    return file.string() + ": " + std::strerror(failure);
  }
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int failure = n < 0 ? errno : EIO;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    if (error != nullptr) *error = failure;
    return file.string() + ": writing '" + value + "': " + std::strerror(failure);
  }
  if (error != nullptr) *error = 0;
  return {};
}

std::vector<int> procs(const fs::path& dir) {
  std::vector<int> pids;
  std::ifstream in(dir / "cgroup.procs");
  int pid = 0;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

std::optional<ProcessStat> process_stat(int pid) {
  const auto stat = read("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const auto close = stat->rfind(')');
  if (close == std::string::npos || close + 2 > stat->size()) return std::nullopt;
  std::istringstream fields(stat->substr(close + 2));
  std::string field;
  ProcessStat result;
  fields >> field >> result.parent;              // 3 state, 4 ppid
  for (int i = 5; i < 22; ++i) fields >> field;  // pgrp .. itrealvalue
  if (!(fields >> result.start_time)) return std::nullopt;
  return result;
}

std::optional<std::uint64_t> start_time(int pid) {
  const auto stat = process_stat(pid);
  return stat ? std::optional<std::uint64_t>(stat->start_time) : std::nullopt;
}

const std::string& host_tag() {
  static const std::string tag = "isolator-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(start_time(::getpid()).value_or(0));
  return tag;
}

std::string next_child_name() {
  static std::atomic<std::uint64_t> next{0};
  return "child-" + std::to_string(next++);
}

bool names_a_dead_host(const std::string& name) {
  int pid = 0;
  unsigned long long start = 0;
  char rest = 0;
  // "isolator-<pid>-<start>" possibly followed by "-XXXXXX"
  const int fields = std::sscanf(name.c_str(), "isolator-%d-%llu%c", &pid, &start, &rest);
  if (fields < 2 || (fields == 3 && rest != '-') || pid <= 0) return false;
  const auto now = start_time(pid);
  return !now || *now != start;
}

int make_child_dir(const fs::path& host_dir, const std::string& child, fs::path& failed) {
  const fs::path dir = host_dir / child;
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (::mkdir(host_dir.c_str(), 0755) != 0 && errno != EEXIST) {
      const int error = errno;  // before anything that may allocate
      failed = host_dir;
      return error;
    }
    if (::mkdir(dir.c_str(), 0755) == 0) return 0;
    if (errno != ENOENT) break;  // ENOENT: host_dir went away just now; make it again
  }
  const int error = errno;
  failed = dir;
  return error;
}

std::string remove_tree(const fs::path& dir) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.is_directory(error) && !entry.is_symlink(error)) {
      if (auto problem = remove_tree(entry.path()); !problem.empty()) return problem;
    }
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return dir.string() + ": " + std::strerror(errno);
}

}  // namespace isolator::detail::cgroupfs
