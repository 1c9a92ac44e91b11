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

struct MountEntry {
  fs::path mount_point;
  std::string root;  // the path of the mount's root inside the hierarchy
  std::string type;
  std::string super_options;
};

std::vector<MountEntry> cgroup_mounts() {
  std::vector<MountEntry> mounts;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mount-point options [optional...] - type source super-options
    std::istringstream fields(line);
    std::string id, parent, device, root, point, options, word;
    fields >> id >> parent >> device >> root >> point >> options;
    while (fields >> word && word != "-") {
    }
    MountEntry entry{point, root, "", ""};
    std::string source;
    fields >> entry.type >> source >> entry.super_options;
    if (entry.type == "cgroup" || entry.type == "cgroup2") mounts.push_back(entry);
  }
  return mounts;
}

// The path of this process's cgroup in the hierarchy whose /proc/self/cgroup line matches.
std::optional<std::string> own_path(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controller.empty() ? controllers.empty()
                           : ("," + controllers + ",").find("," + controller + ",") != std::string::npos) {
      return path;
    }
  }
  return std::nullopt;
}

std::optional<fs::path> join(const MountEntry& mount, const std::string& own) {
  // Inside a container the mount's root may be our own cgroup: strip it.
  std::string relative = own;
  if (mount.root != "/" && relative.rfind(mount.root, 0) == 0) relative = relative.substr(mount.root.size());
  const fs::path inside = fs::path(relative).relative_path();
  return inside.empty() ? mount.mount_point : mount.mount_point / inside;
}

}  // namespace

std::optional<fs::path> v1_directory(const std::string& controller) {
  const auto own = own_path(controller);
  if (!own) return std::nullopt;
  for (const auto& mount : cgroup_mounts()) {
    if (mount.type != "cgroup") continue;
    if (("," + mount.super_options + ",").find("," + controller + ",") != std::string::npos) {
      return join(mount, *own);
    }
  }
  return std::nullopt;
}

std::optional<fs::path> v2_directory() {
  const auto own = own_path("");
  if (!own) return std::nullopt;
  for (const auto& mount : cgroup_mounts()) {
    if (mount.type == "cgroup2") return join(mount, *own);
  }
  return std::nullopt;
}

std::optional<std::string> read(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string write(const fs::path& file, const std::string& value) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return file.string() + ": " + std::strerror(errno);
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int error = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return file.string() + ": writing '" + value + "': " + std::strerror(n < 0 ? error : EIO);
  }
  return {};
}

std::optional<std::uint64_t> keyed(const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  std::string name;
  std::uint64_t value = 0;
  while (in >> name >> value) {
    if (name == key) return value;
  }
  return std::nullopt;
}

std::map<std::string, std::uint64_t> keyed_all(const fs::path& file) {
  std::map<std::string, std::uint64_t> values;
  std::ifstream in(file);
  std::string name;
  std::uint64_t value = 0;
  while (in >> name >> value) values[name] = value;
  return values;
}

std::vector<int> procs(const fs::path& dir) {
  std::vector<int> pids;
  std::ifstream in(dir / "cgroup.procs");
  int pid = 0;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

std::optional<std::uint64_t> start_time(int pid) {
  const auto stat = read("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  const auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(close + 2));
  std::string field;
  for (int i = 3; i < 22; ++i) fields >> field;  // state .. itrealvalue
  std::uint64_t start = 0;
  if (!(fields >> start)) return std::nullopt;
  return start;
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
