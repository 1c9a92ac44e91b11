// isolatorctl: the operator's view of every live isolate of the caller's user
// (docs/isolatorctl.md). It lists the records isolators publish, with live figures from the
// cgroups and /proc, as a table or as JSON, sweeps the records of dead hosts, and kills one
// isolate's child after checking that the record still names it.
//
//   isolatorctl [--json] [--dir DIR]      list
//   isolatorctl kill ID [--dir DIR]       SIGKILL the child of isolate ID
//
// Exit status: 0 done; 1 refused or failed (the message says why and what to do); 2 bad
// command line.
#include "kill.hpp"
#include "live.hpp"
#include "record.hpp"

#include "platform/linux/records/record_directory.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace records = isolator::detail::records;
using json = nlohmann::ordered_json;
using namespace isolatorctl;

namespace {

constexpr std::size_t max_record_bytes = 64 * 1024;

struct Listed {
  Record record;
  Live live;
};
struct Unreadable {
  std::string file;
  std::string why;
};

// The whole file, not following a link, and refused past max_record_bytes.
std::optional<std::string> read_record_file(const fs::path& path, std::string& why) {
  // O_NONBLOCK: a FIFO planted under a record's name must not hang the listing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    why = std::string("cannot open it: ") + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    ::close(fd);
    why = "it is not a regular file of this user";
    return std::nullopt;
  }
  std::string text(max_record_bytes + 1, '\0');
  std::size_t size = 0;
  for (ssize_t n; size < text.size() && (n = ::read(fd, text.data() + size, text.size() - size)) > 0;) {
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (size > max_record_bytes) {
    why = "it is larger than " + std::to_string(max_record_bytes) + " bytes";
    return std::nullopt;
  }
  text.resize(size);
  return text;
}

std::string human_bytes(std::uint64_t bytes) {
  char out[32];
  if (bytes >= (1ULL << 30)) std::snprintf(out, sizeof out, "%.1fG", bytes / double(1ULL << 30));
  else if (bytes >= (1ULL << 20)) std::snprintf(out, sizeof out, "%.1fM", bytes / double(1ULL << 20));
  else if (bytes >= 1024) std::snprintf(out, sizeof out, "%.1fK", bytes / 1024.0);
  else std::snprintf(out, sizeof out, "%lluB", static_cast<unsigned long long>(bytes));
  return out;
}

std::string human_duration(std::chrono::milliseconds ms) {
  char out[32];
  const auto s = ms.count() / 1000;
  if (s >= 3600) std::snprintf(out, sizeof out, "%lldh%02lldm", static_cast<long long>(s / 3600), static_cast<long long>(s % 3600 / 60));
  else if (s >= 60) std::snprintf(out, sizeof out, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else std::snprintf(out, sizeof out, "%.1fs", ms.count() / 1000.0);
  return out;
}

std::string limits_text(const Record& r) {
  std::string out;
  const auto add = [&](const std::string& part) { out += (out.empty() ? "" : ",") + part; };
  if (r.memory_bytes) add("mem=" + human_bytes(*r.memory_bytes));
  if (r.cpu_percent) {
    std::ostringstream p;
    p << *r.cpu_percent;
    add("cpu=" + p.str() + "%");
  }
  if (r.max_pids) add("pids=" + std::to_string(*r.max_pids));
  if (r.cpu_time_per_call_ms) add("cpu-time=" + std::to_string(*r.cpu_time_per_call_ms) + "ms");
  if (!r.cpu_affinity.empty()) {
    std::string cpus;
    for (int c : r.cpu_affinity) cpus += (cpus.empty() ? "" : "+") + std::to_string(c);
    add("cpus=" + cpus);
  }
  return out.empty() ? "none" : out;
}

template <typename T>
json or_null(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json to_json(const Listed& item) {
  const Record& r = item.record;
  const Live& l = item.live;
  json limits = {{"memory_bytes", or_null(r.memory_bytes)},
                 {"cpu_percent", or_null(r.cpu_percent)},
                 {"max_pids", or_null(r.max_pids)},
                 {"cpu_time_per_call_ms", or_null(r.cpu_time_per_call_ms)},
                 {"cpu_affinity", r.cpu_affinity}};
  json pihost = nullptr;
  if (r.pihost_pid > 0) {
    pihost = {{"pid", r.pihost_pid},
              {"running", l.child_running},
              {"uptime_ms", l.child_uptime ? json(l.child_uptime->count()) : json(nullptr)},
              {"memory_bytes", or_null(l.memory_bytes)},
              {"cpu_us", l.cpu ? json(l.cpu->count()) : json(nullptr)},
              {"memory_from", l.memory_from.empty() ? json(nullptr) : json(l.memory_from)},
              {"cpu_from", l.cpu_from.empty() ? json(nullptr) : json(l.cpu_from)}};
  }
  return {{"id", r.id},
          {"kind", r.kind},
          {"host", {{"pid", r.host_pid}, {"executable", r.host_executable}}},
          {"containment", r.containment},
          {"limits", limits},
          {"created_unix_ms", r.created_unix_ms},
          {"calls", or_null(l.calls)},
          {"pihost", pihost}};
}

void print_table(const std::vector<Listed>& listed) {
  std::vector<std::vector<std::string>> rows{
      {"ID", "HOST", "EXECUTABLE", "PIHOST", "BACKEND", "LIMITS", "MEMORY", "CPU", "UPTIME", "CALLS"}};
  for (const auto& [r, l] : listed) {
    const std::string pihost = r.pihost_pid <= 0 ? "-" : l.child_running ? std::to_string(r.pihost_pid)
                                                                         : std::to_string(r.pihost_pid) + "(gone)";
    char cpu[32] = "-";
    if (l.cpu) std::snprintf(cpu, sizeof cpu, "%.2fs", l.cpu->count() / 1e6);
    rows.push_back({r.id, std::to_string(r.host_pid), fs::path(r.host_executable).filename().string(), pihost,
                    r.containment, limits_text(r), l.memory_bytes ? human_bytes(*l.memory_bytes) : "-", cpu,
                    l.child_uptime ? human_duration(*l.child_uptime) : "-",
                    l.calls ? std::to_string(*l.calls) : "-"});
  }
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

// The records directory, checked: a directory that is not the user's own, or that others
// may write, holds nothing to believe. Missing: no isolator of this user has published.
bool usable_directory(const fs::path& dir, bool& missing) {
  std::error_code error;
  missing = !fs::exists(fs::symlink_status(dir, error));
  if (missing) return true;
  if (const auto problem = records::check(dir, false); !problem.empty()) {
    std::cerr << "isolatorctl: " << problem << "\n";
    return false;
  }
  return true;
}

int list(const fs::path& dir, bool as_json) {
  bool missing = false;
  if (!usable_directory(dir, missing)) return 1;
  int swept = 0;
  std::vector<Listed> listed;
  std::vector<Unreadable> unreadable;
  if (!missing) {
    swept = records::sweep(dir);
    std::vector<fs::path> files;
    std::error_code error;
    for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
      if (it->path().extension() == records::record_suffix) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::string why;
      const auto text = read_record_file(file, why);
      const auto parsed = text ? parse_record(*text, file.stem().string(), ::geteuid()) : Parsed{std::nullopt, why};
      if (!parsed.record) {
        unreadable.push_back({file.string(), parsed.error});
        continue;
      }
      Live live = read_live(*parsed.record, dir);
      if (!live.host_running) continue;  // its host ended since the sweep: not live
      listed.push_back({*parsed.record, std::move(live)});
    }
  }
  for (const auto& bad : unreadable) std::cerr << "isolatorctl: ignoring " << bad.file << ": " << bad.why << "\n";
  if (as_json) {
    json out = {{"directory", dir.string()}, {"swept", swept}, {"isolates", json::array()}, {"ignored", json::array()}};
    for (const auto& item : listed) out["isolates"].push_back(to_json(item));
    for (const auto& bad : unreadable) out["ignored"].push_back({{"file", bad.file}, {"why", bad.why}});
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (swept > 0) std::cerr << "isolatorctl: swept " << swept << " record(s) of hosts that are gone\n";
  if (listed.empty()) {
    std::cout << "no live isolates in " << dir.string() << "\n";
    return 0;
  }
  print_table(listed);
  return 0;
}

int kill(const fs::path& dir, const std::string& id) {
  // An id is a file name of the directory, nothing else: no path, no other file.
  if (id.rfind("isolator-", 0) != 0 || id.find('/') != std::string::npos || id.find('\0') != std::string::npos) {
    std::cerr << "isolatorctl: \"" << id << "\" is not an isolate id; ids look like isolator-1234-5678-0 "
              << "(the ID column of `isolatorctl`)\n";
    return 1;
  }
  bool missing = false;
  if (!usable_directory(dir, missing)) return 1;
  const fs::path file = dir / (id + records::record_suffix);
  std::string why;
  const auto text = missing ? std::nullopt : read_record_file(file, why);
  if (!text) {
    std::cerr << "isolatorctl: no isolate " << id << " in " << dir.string() << " (" << (missing ? "no such directory" : why)
              << "); list them with `isolatorctl`\n";
    return 1;
  }
  const auto parsed = parse_record(*text, id, ::geteuid());
  if (!parsed.record) {
    std::cerr << "isolatorctl: refusing to use the record " << file.string() << ": " << parsed.error << "\n";
    return 1;
  }
  if (const auto refusal = kill_child(*parsed.record); !refusal.empty()) {
    std::cerr << "isolatorctl: " << refusal << "\n";
    return 1;
  }
  std::cout << "killed pihost pid " << parsed.record->pihost_pid << " of isolate " << id << " (host pid "
            << parsed.record->host_pid << "); its host replaces it as its Options::supervision says\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"isolatorctl: every live isolate of this user, from the records isolators publish "
               "(docs/isolatorctl.md)"};
  app.footer(
      "Records live in $ISOLATOR_RUNTIME_DIR, else $XDG_RUNTIME_DIR/isolator, else /run/isolator for root, "
      "else /tmp/isolator-<uid>; each user sees their own. Listing also removes the records of hosts that are gone.");
  bool as_json = false;
  std::string dir_option;
  app.add_flag("--json", as_json, "print one JSON object (directory, swept, isolates, ignored)");
  app.add_option("--dir", dir_option, "the records directory to read instead of the default");
  auto* kill_command = app.add_subcommand("kill", "SIGKILL one isolate's child (pihost), after checking that the "
                                                  "record still names it; its host replaces it as usual");
  std::string id;
  kill_command->add_option("ID", id, "the isolate's id (the ID column)")->required();
  kill_command->add_option("--dir", dir_option, "the records directory to read instead of the default");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  const fs::path dir = records::directory(dir_option);
  if (!dir.is_absolute()) {
    std::cerr << "isolatorctl: --dir " << dir.string() << " is relative; give an absolute directory\n";
    return 2;
  }
  return kill_command->parsed() ? kill(dir, id) : list(dir, as_json);
}
