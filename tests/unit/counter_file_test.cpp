// cgroupfs::CounterFile: one descriptor, read again from the start on every refresh.
#include "platform/linux/containment/counter_file.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace isolator::detail::cgroupfs {
namespace {

namespace fs = std::filesystem;

class CounterFileTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::trunc) << text;
    return dir_ / name;
  }

  test::TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

TEST_F(CounterFileTest, FindsKeyedValuesAndTheLeadingNumber) {
  CounterFile stat(write("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"));
  ASSERT_TRUE(stat.refresh());
  EXPECT_EQ(stat.value("usage_usec"), 1500u);
  EXPECT_EQ(stat.value("user_usec"), 1000u);
  EXPECT_EQ(stat.value("system_usec"), 500u);
  EXPECT_EQ(stat.value("user"), std::nullopt) << "a key matches a whole name, not a prefix";
  EXPECT_EQ(stat.value("nr_periods"), std::nullopt);

  CounterFile usage(write("cpuacct.usage", "123456789\n"));
  EXPECT_EQ(usage.read(), 123456789u);
}

TEST_F(CounterFileTest, EachRefreshReadsTheFileAgainFromItsStart) {
  const auto path = write("memory.events", "low 0\noom 0\noom_kill 0\n");
  CounterFile events(path);
  EXPECT_EQ(events.read("oom_kill"), 0u);
  write("memory.events", "low 0\noom 1\noom_kill 2\n");
  EXPECT_EQ(events.read("oom_kill"), 2u);
}

TEST_F(CounterFileTest, AMissingFileReadsAsNothing) {
  CounterFile missing(dir_ / "absent");
  EXPECT_FALSE(missing.refresh());
  EXPECT_EQ(missing.value("oom_kill"), std::nullopt);
  EXPECT_EQ(missing.read(), std::nullopt);
  CounterFile closed(write("cpu.stat", "usage_usec 1\n"));
  closed.close();
  EXPECT_EQ(closed.read("usage_usec"), std::nullopt);
}

TEST_F(CounterFileTest, ALineWithoutANumberIsNothing) {
  CounterFile odd(write("odd", "oom_kill \nusage_usec x\n"));
  EXPECT_EQ(odd.read("oom_kill"), std::nullopt);
  EXPECT_EQ(odd.value("usage_usec"), std::nullopt);
}

}  // namespace
}  // namespace isolator::detail::cgroupfs
