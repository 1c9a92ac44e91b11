// The records isolatorctl reads: what the library publishes (platform/linux/records/) read
// back by isolatorctl's parser (example/isolatorctl/record.cpp), every field a forged or
// broken record could get wrong refused with its name, where the directory is, when it is
// refused, and the sweep of a dead host's records.
#include "temp_dir.hpp"

#include "../../example/isolatorctl/live.hpp"
#include "../../example/isolatorctl/record.hpp"
#include "platform/linux/containment/cgroupfs.hpp"
#include "platform/linux/records/record_directory.hpp"
#include "platform/records.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace isolator {
namespace {

namespace fs = std::filesystem;
namespace records = detail::records;
using isolatorctl::parse_record;

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A record as the library writes it, for host pid 42 started at tick 1000.
const std::string good_id = "isolator-42-1000-3";
std::string good_record(const std::string& replace_from = "", const std::string& replace_to = "") {
  std::string text =
      R"({"format":1,"id":"isolator-42-1000-3","kind":"pool","uid":UID,)"
      R"("host":{"pid":42,"start_time":1000,"executable":"/usr/bin/host"},"containment":"cgroup-v1",)"
      R"("limits":{"memory_bytes":268435456,"cpu_percent":50,"max_pids":null,"cpu_time_per_call_ms":null,"cpu_affinity":[0,1]},)"
      R"("created_unix_ms":1700000000000,"pihost":{"pid":43,"start_time":1001,"started_unix_ms":1700000000100}})";
  text.replace(text.find("UID"), 3, std::to_string(::geteuid()));
  if (!replace_from.empty()) {
    const auto at = text.find(replace_from);
    EXPECT_NE(at, std::string::npos) << replace_from;
    if (at != std::string::npos) text.replace(at, replace_from.size(), replace_to);
  }
  return text;
}

TEST(IsolatorctlRecord, ReadsAGoodRecord) {
  const auto parsed = parse_record(good_record(), good_id, ::geteuid());
  ASSERT_TRUE(parsed.record) << parsed.error;
  const auto& r = *parsed.record;
  EXPECT_EQ(r.kind, "pool");
  EXPECT_EQ(r.host_pid, 42);
  EXPECT_EQ(r.host_start_time, 1000u);
  EXPECT_EQ(r.host_executable, "/usr/bin/host");
  EXPECT_EQ(r.containment, "cgroup-v1");
  EXPECT_EQ(r.memory_bytes, 268435456u);
  EXPECT_EQ(r.cpu_percent, 50.0);
  EXPECT_FALSE(r.max_pids);
  EXPECT_EQ(r.cpu_affinity, (std::vector<int>{0, 1}));
  EXPECT_EQ(r.pihost_pid, 43);
  EXPECT_EQ(r.pihost_start_time, 1001u);
}

TEST(IsolatorctlRecord, ReadsARecordWithoutAChildYet) {
  const std::string text = good_record(R"("pihost":{"pid":43,"start_time":1001,"started_unix_ms":1700000000100})",
                                       R"("pihost":null)");
  const auto parsed = parse_record(text, good_id, ::geteuid());
  ASSERT_TRUE(parsed.record) << parsed.error;
  EXPECT_EQ(parsed.record->pihost_pid, 0);
}

TEST(IsolatorctlRecord, RefusesEachBadFieldNamingIt) {
  struct Case {
    std::string from, to, says;
  };
  const std::vector<Case> cases{
      {R"("format":1)", R"("format":2)", "format is 2"},
      {R"("kind":"pool")", R"("kind":"other")", "\"kind\""},
      {R"("pid":42,)", R"("pid":-42,)", "\"pid\" is not a non-negative integer"},
      {R"("pid":42,)", R"("pid":0,)", "\"pid\" is out of range"},
      {R"("pid":42,)", R"("pid":41,)", "does not name its host's pid and start time"},
      {R"("start_time":1000)", R"("start_time":999)", "does not name its host's pid and start time"},
      {R"("pid":43,)", R"("pid":"43",)", "\"pid\" is not a non-negative integer"},
      {R"("executable":"/usr/bin/host")", R"("executable":"/usr/bin/\u001b[2Jhost")", "control character"},
      {R"("containment":"cgroup-v1")", R"("containment":"")", "\"containment\" is empty"},
      {R"("memory_bytes":268435456)", R"("memory_bytes":-1)", "\"memory_bytes\""},
      {R"("cpu_percent":50)", R"("cpu_percent":0)", "\"cpu_percent\""},
      {R"("cpu_affinity":[0,1])", R"("cpu_affinity":[0,"1"])", "\"cpu_affinity\""},
      {R"("host":{)", R"("host":3,"x":{)", "\"host\" is not an object"},
      {R"("pihost":{"pid":43,)", R"("pihost":{)", "no \"pid\""},
      {R"("pihost":{)", R"("pihost":[{)", "not valid JSON"},
  };
  for (const auto& c : cases) {
    const auto parsed = parse_record(good_record(c.from, c.to), good_id, ::geteuid());
    EXPECT_FALSE(parsed.record) << c.to;
    EXPECT_NE(parsed.error.find(c.says), std::string::npos) << c.to << " -> " << parsed.error;
  }
}

TEST(IsolatorctlRecord, RefusesARecordUnderAnotherNameOrUser) {
  auto parsed = parse_record(good_record(), "isolator-42-1000-4", ::geteuid());
  EXPECT_FALSE(parsed.record);
  EXPECT_NE(parsed.error.find("is not its file name"), std::string::npos) << parsed.error;
  parsed = parse_record(good_record(), good_id, ::geteuid() + 1);
  EXPECT_FALSE(parsed.record);
  EXPECT_NE(parsed.error.find("claims uid"), std::string::npos) << parsed.error;
  parsed = parse_record("{\"format\":1,", good_id, ::geteuid());
  EXPECT_FALSE(parsed.record);
  EXPECT_NE(parsed.error.find("not valid JSON"), std::string::npos) << parsed.error;
}

// What the library writes, isolatorctl reads: the record, its child, its calls counter, and
// nothing left once the slot is gone.
TEST(IsolatorctlRecord, ReadsWhatTheLibraryPublishesAndItGoesWithTheSlot) {
  test::TempDir dir;
  Options options;
  options.records_directory = dir.path() / "records";
  Limits limits;
  limits.memory_bytes = 64 << 20;
  limits.cpu_time_per_call = std::chrono::milliseconds(1500);
  auto slot = detail::publish_slot(options, "isolator", "rlimit", limits);
  ASSERT_TRUE(slot);
  struct stat st {};
  ASSERT_EQ(::stat(options.records_directory.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "the directory is made mode 0700";

  std::vector<fs::path> published;
  for (const auto& entry : fs::directory_iterator(options.records_directory)) published.push_back(entry.path());
  ASSERT_EQ(published.size(), 2u) << "a record and its calls counter";
  const fs::path record = published[0].extension() == ".json" ? published[0] : published[1];
  const std::string id = record.stem().string();
  EXPECT_EQ(id.rfind(detail::cgroupfs::host_tag() + "-", 0), 0u) << id;

  auto parsed = parse_record(read_file(record), id, ::geteuid());
  ASSERT_TRUE(parsed.record) << parsed.error << "\n" << read_file(record);
  EXPECT_EQ(parsed.record->host_pid, ::getpid());
  EXPECT_EQ(parsed.record->host_executable, fs::read_symlink("/proc/self/exe").string());
  EXPECT_EQ(parsed.record->containment, "rlimit");
  EXPECT_EQ(parsed.record->memory_bytes, 64u << 20);
  EXPECT_EQ(parsed.record->cpu_time_per_call_ms, 1500);
  EXPECT_EQ(parsed.record->pihost_pid, 0) << "no child yet";

  // A child: the record now names it, with its start time.
  slot->child_ready(::getpid());
  parsed = parse_record(read_file(record), id, ::geteuid());
  ASSERT_TRUE(parsed.record) << parsed.error;
  EXPECT_EQ(parsed.record->pihost_pid, ::getpid());
  EXPECT_EQ(parsed.record->pihost_start_time, detail::cgroupfs::start_time(::getpid()).value());

  for (int i = 0; i < 3; ++i) slot->call_served();
  const auto live = isolatorctl::read_live(*parsed.record, options.records_directory);
  EXPECT_TRUE(live.host_running);
  EXPECT_EQ(live.calls, 3u);
  EXPECT_FALSE(live.child_running) << "this process is not a child of itself";

  slot.reset();
  EXPECT_TRUE(fs::is_empty(options.records_directory)) << "record and counter removed";
}

TEST(IsolatorctlRecord, PublishesNothingWhenTurnedOff) {
  test::TempDir dir;
  Options options;
  options.records_directory = dir.path() / "records";
  options.publish_records = false;
  EXPECT_FALSE(detail::publish_slot(options, "isolator", "rlimit", {}));
  EXPECT_FALSE(fs::exists(options.records_directory));
}

TEST(IsolatorctlRecord, TheDirectoryIsRefusedWhenOthersMayWriteIt) {
  test::TempDir dir;
  const fs::path records = dir.path() / "records";
  ASSERT_EQ(records::check(records, true), "");
  ::chmod(records.c_str(), 0770);
  const auto problem = records::check(records, false);
  EXPECT_NE(problem.find("writable by its group or by others"), std::string::npos) << problem;
  EXPECT_NE(problem.find("ISOLATOR_RUNTIME_DIR"), std::string::npos) << "names the fix: " << problem;
  Options options;
  options.records_directory = records;
  EXPECT_FALSE(detail::publish_slot(options, "isolator", "rlimit", {})) << "refused, never an error";
  ::chmod(records.c_str(), 0700);
  fs::create_directory_symlink(records, dir.path() / "link");
  EXPECT_NE(records::check(dir.path() / "link", false).find("symbolic link"), std::string::npos);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(records.c_str(), 65534, 65534), 0);
    EXPECT_NE(records::check(records, false).find("belongs to uid 65534"), std::string::npos);
  }
}

TEST(IsolatorctlRecord, TheDirectoryIsFoundTheSameWayEverywhere) {
  const char* saved_runtime = std::getenv("ISOLATOR_RUNTIME_DIR");
  const char* saved_xdg = std::getenv("XDG_RUNTIME_DIR");
  const std::string runtime = saved_runtime ? saved_runtime : "";
  const std::string xdg = saved_xdg ? saved_xdg : "";
  EXPECT_EQ(records::directory("/given"), "/given");
  ::setenv("ISOLATOR_RUNTIME_DIR", "/isolator-runtime", 1);
  test::TempDir mine;  // this user's, as a session's runtime directory is
  ::setenv("XDG_RUNTIME_DIR", mine.path().c_str(), 1);
  EXPECT_EQ(records::directory(), "/isolator-runtime");
  ::unsetenv("ISOLATOR_RUNTIME_DIR");
  EXPECT_EQ(records::directory(), mine.path() / "isolator");
  // Another user's runtime directory (a root host under `sudo -E`) is not used.
  ::setenv("XDG_RUNTIME_DIR", "/run/user/isolator-test-nonexistent", 1);
  EXPECT_NE(records::directory(), fs::path("/run/user/isolator-test-nonexistent/isolator"));
  if (::geteuid() != 0) {
    ::setenv("XDG_RUNTIME_DIR", "/", 1);  // root's
    EXPECT_EQ(records::directory(), fs::path("/tmp/isolator-" + std::to_string(::geteuid())));
  }
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(records::directory(), ::geteuid() == 0 ? fs::path("/run/isolator")
                                                  : fs::path("/tmp/isolator-" + std::to_string(::geteuid())));
  if (saved_runtime) ::setenv("ISOLATOR_RUNTIME_DIR", runtime.c_str(), 1);
  if (saved_xdg) ::setenv("XDG_RUNTIME_DIR", xdg.c_str(), 1);
}

TEST(IsolatorctlRecord, TheSweepRemovesOnlyTheRecordsOfDeadHosts) {
  test::TempDir dir;
  // Pid 1 runs, but not since tick 1: that host is gone, its pid reused.
  const std::string dead = "isolator-1-1-0";
  const std::string alive = detail::cgroupfs::host_tag() + "-9";
  for (const auto& name : {dead + ".json", dead + ".calls", dead + ".json.tmp", alive + ".json", alive + ".calls",
                           std::string("unrelated.json")}) {
    std::ofstream(dir.path() / name) << "{}";
  }
  EXPECT_EQ(records::sweep(dir.path()), 1);
  EXPECT_FALSE(fs::exists(dir.path() / (dead + ".json")));
  EXPECT_FALSE(fs::exists(dir.path() / (dead + ".calls")));
  EXPECT_FALSE(fs::exists(dir.path() / (dead + ".json.tmp")));
  EXPECT_TRUE(fs::exists(dir.path() / (alive + ".json")));
  EXPECT_TRUE(fs::exists(dir.path() / (alive + ".calls")));
  EXPECT_TRUE(fs::exists(dir.path() / "unrelated.json"));
}

}  // namespace
}  // namespace isolator
