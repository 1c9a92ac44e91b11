// isolatorctl against real hosts: two samplehost processes, each with an isolator publishing
// into the test's own records directory, seen with their pids; a SIGKILLed host's record
// swept by the next listing; `kill ID` stopping a child, and refusing when the record no
// longer names the process that runs under its pid.
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace isolator {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

// A samplehost that publishes into `dir` and sits in one long call (60 s), killed and reaped
// at the end of the test if it is still there.
class Host {
 public:
  explicit Host(const fs::path& dir) {
    std::vector<std::string> env_strings{"ISOLATOR_RUNTIME_DIR=" + dir.string()};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("ISOLATOR_RUNTIME_DIR=", 0) != 0) env_strings.emplace_back(*e);
    }
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args{test::samplehost(), "--json", "-l", test::plugin("sleep"), "--", "60000"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const int spawned = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) throw std::runtime_error("cannot spawn samplehost: " + std::string(std::strerror(spawned)));
  }
  ~Host() { kill(); }
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  int pid() const { return pid_; }
  // SIGKILL, as a crash would: the library has no chance to remove its record.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

 private:
  pid_t pid_ = 0;
};

struct Ran {
  int status = -1;
  std::string output;  // stdout, then stderr
};

Ran isolatorctl(const std::string& args) {
  const std::string command = "'" + test::isolatorctl() + "' " + args + " 2>&1";
  Ran ran;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return ran;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) ran.output.append(buffer, n);
  const int status = ::pclose(pipe);
  ran.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return ran;
}

json list(const fs::path& dir) {
  const Ran ran = isolatorctl("--json --dir '" + dir.string() + "'");
  EXPECT_EQ(ran.status, 0) << ran.output;
  try {
    return json::parse(ran.output);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "isolatorctl --json printed no JSON (" << e.what() << "): " << ran.output;
    return json::object();
  }
}

// Lists until `count` isolates have a running child (each host's first child takes a moment
// to start), or 20 s pass.
json until_running(const fs::path& dir, std::size_t count) {
  json listed;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    listed = list(dir);
    std::size_t running = 0;
    for (const auto& isolate : listed.value("isolates", json::array())) {
      if (isolate["pihost"].is_object() && isolate["pihost"]["running"] == true) ++running;
    }
    if (running == count) return listed;
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "not " << count << " running isolates within 20 s: " << listed.dump();
  return listed;
}

int parent_of(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string state;
  int parent = 0;
  fields >> state >> parent;
  return parent;
}

bool gone_within(int pid, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (test::process_alive(pid)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

TEST(Isolatorctl, ListsTheIsolatesOfTwoHostProcesses) {
  test::TempDir dir;
  Host first(dir.path());
  Host second(dir.path());
  const json listed = until_running(dir.path(), 2);
  ASSERT_EQ(listed["isolates"].size(), 2u) << listed.dump();
  std::set<int> hosts;
  for (const auto& isolate : listed["isolates"]) {
    const int host = isolate["host"]["pid"];
    hosts.insert(host);
    EXPECT_EQ(isolate["kind"], "isolator");
    EXPECT_EQ(fs::path(isolate["host"]["executable"].get<std::string>()).filename(), "samplehost");
    EXPECT_FALSE(isolate["containment"].get<std::string>().empty());
    const int pihost = isolate["pihost"]["pid"];
    EXPECT_EQ(parent_of(pihost), host) << "the listed child is that host's child";
    EXPECT_TRUE(isolate["pihost"]["memory_bytes"].is_number()) << isolate.dump();
    EXPECT_TRUE(isolate["pihost"]["cpu_us"].is_number()) << isolate.dump();
    EXPECT_TRUE(isolate["pihost"]["uptime_ms"].is_number()) << isolate.dump();
    EXPECT_EQ(isolate["calls"], 0) << "the one call is still running";
  }
  EXPECT_EQ(hosts, (std::set<int>{first.pid(), second.pid()}));
  EXPECT_EQ(listed["ignored"].size(), 0u);

  // The table says the same.
  const Ran table = isolatorctl("--dir '" + dir.path().string() + "'");
  EXPECT_EQ(table.status, 0) << table.output;
  EXPECT_NE(table.output.find("PIHOST"), std::string::npos) << table.output;
  for (const auto& isolate : listed["isolates"]) {
    EXPECT_NE(table.output.find(isolate["id"].get<std::string>()), std::string::npos) << table.output;
  }
}

TEST(Isolatorctl, SweepsTheRecordOfAKilledHost) {
  test::TempDir dir;
  Host host(dir.path());
  const json listed = until_running(dir.path(), 1);
  ASSERT_EQ(listed["isolates"].size(), 1u);
  const std::string id = listed["isolates"][0]["id"];
  host.kill();
  ASSERT_TRUE(fs::exists(dir.path() / (id + ".json"))) << "a SIGKILLed host leaves its record";

  const json after = list(dir.path());
  EXPECT_EQ(after["isolates"].size(), 0u) << after.dump();
  EXPECT_EQ(after["swept"], 1) << after.dump();
  EXPECT_FALSE(fs::exists(dir.path() / (id + ".json"))) << "swept";
  EXPECT_FALSE(fs::exists(dir.path() / (id + ".calls"))) << "swept";
}

TEST(Isolatorctl, KillsAChildOnlyWhileItsRecordNamesIt) {
  test::TempDir dir;
  Host host(dir.path());
  const json listed = until_running(dir.path(), 1);
  ASSERT_EQ(listed["isolates"].size(), 1u);
  const std::string id = listed["isolates"][0]["id"];
  const int pihost = listed["isolates"][0]["pihost"]["pid"];
  const fs::path record = dir.path() / (id + ".json");

  // The record's start time for that pid no longer matches (a stale or forged record): refused.
  std::string original;
  {
    std::ifstream in(record);
    original.assign(std::istreambuf_iterator<char>(in), {});
  }
  json forged = json::parse(original);
  forged["pihost"]["start_time"] = forged["pihost"]["start_time"].get<std::uint64_t>() + 1;
  std::ofstream(record) << forged.dump();
  Ran ran = isolatorctl("kill " + id + " --dir '" + dir.path().string() + "'");
  EXPECT_EQ(ran.status, 1) << ran.output;
  EXPECT_NE(ran.output.find("not at tick"), std::string::npos) << ran.output;
  EXPECT_TRUE(test::process_alive(pihost)) << "nothing was signalled";

  // Ids that are not records of the directory.
  ran = isolatorctl("kill isolator-1-1-0 --dir '" + dir.path().string() + "'");
  EXPECT_EQ(ran.status, 1);
  EXPECT_NE(ran.output.find("no isolate isolator-1-1-0"), std::string::npos) << ran.output;
  ran = isolatorctl("kill ../../etc/passwd --dir '" + dir.path().string() + "'");
  EXPECT_EQ(ran.status, 1);
  EXPECT_NE(ran.output.find("is not an isolate id"), std::string::npos) << ran.output;

  // The true record: the child is killed (and its host may replace it).
  std::ofstream(record) << original;
  ran = isolatorctl("kill " + id + " --dir '" + dir.path().string() + "'");
  EXPECT_EQ(ran.status, 0) << ran.output;
  EXPECT_NE(ran.output.find("killed pihost pid " + std::to_string(pihost)), std::string::npos) << ran.output;
  EXPECT_TRUE(gone_within(pihost, 5s)) << "pihost " << pihost << " still runs";
}

TEST(Isolatorctl, RefusesADirectoryOthersMayWrite) {
  test::TempDir dir;
  fs::permissions(dir.path(), fs::perms::group_write, fs::perm_options::add);
  const Ran ran = isolatorctl("--dir '" + dir.path().string() + "'");
  EXPECT_EQ(ran.status, 1) << ran.output;
  EXPECT_NE(ran.output.find("writable by its group or by others"), std::string::npos) << ran.output;
}

}  // namespace
}  // namespace isolator
