// The comparisons behind Box::changed_limits, and the watched files read again: no cgroup is
// needed, the control files are stood in for by ordinary files.
#include "platform/linux/containment/limit_watch.hpp"
#include "temp_dir.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace isolator::detail {
namespace {

namespace fs = std::filesystem;

TEST(LimitWatch, TheFirstLineIsWhatCounts) {
  EXPECT_EQ(first_line("67108864\n"), "67108864");
  EXPECT_EQ(first_line("max 100000\n"), "max 100000");
  EXPECT_EQ(first_line("max"), "max");
  EXPECT_EQ(first_line(""), "");
  EXPECT_FALSE(compare_limit("memory.max", "67108864", "67108864\n"));
  EXPECT_FALSE(compare_limit("cpu.max", "50000 100000", "50000 100000\nignored\n"));
}

TEST(LimitWatch, AnyOtherValueIsAChangeThatNamesTheFileTheValueSetAndTheValueFound) {
  const auto raised = compare_limit("/cg/child-1/memory.limit_in_bytes", "67108864", "9223372036854771712\n");
  ASSERT_TRUE(raised);
  EXPECT_EQ(raised->name, "/cg/child-1/memory.limit_in_bytes");
  EXPECT_EQ(raised->set, "67108864");
  EXPECT_EQ(raised->found, "9223372036854771712");
  // Lowered is changed too: the limits are no longer the ones the host set.
  EXPECT_TRUE(compare_limit("pids.max", "64", "8\n"));
  EXPECT_TRUE(compare_limit("cpu.max", "50000 100000", "max 100000\n"));
  // Compared whole: a value the set one is a prefix of is another value.
  EXPECT_TRUE(compare_limit("pids.max", "64", "640\n"));
  EXPECT_TRUE(compare_limit("pids.max", "64", ""));
}

TEST(LimitWatch, AnUnreadableLimitCountsAsChangedAndSaysWhy) {
  const auto unreadable = compare_limit("pids.max", "64", std::nullopt, ENOENT);
  ASSERT_TRUE(unreadable);
  EXPECT_EQ(unreadable->set, "64");
  EXPECT_EQ(unreadable->found, "(unreadable: No such file or directory)");
}

TEST(LimitWatch, OnlyTheHardRlimitCountsAndInfinityReadsUnlimited) {
  EXPECT_EQ(rlimit_text(RLIM_INFINITY), "unlimited");
  EXPECT_EQ(rlimit_text(536870912), "536870912");
  EXPECT_FALSE(compare_rlimit("RLIMIT_AS (hard) of pid 7", 536870912, 536870912));
  const auto raised = compare_rlimit("RLIMIT_AS (hard) of pid 7", 536870912, RLIM_INFINITY);
  ASSERT_TRUE(raised);
  EXPECT_EQ(raised->name, "RLIMIT_AS (hard) of pid 7");
  EXPECT_EQ(raised->set, "536870912");
  EXPECT_EQ(raised->found, "unlimited");
  const auto unreadable = compare_rlimit("RLIMIT_AS (hard) of pid 7", 536870912, std::nullopt, EPERM);
  ASSERT_TRUE(unreadable);
  EXPECT_EQ(unreadable->found, "(unreadable: Operation not permitted)");
}

class WatchedLimitFilesTest : public ::testing::Test {
 protected:
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::trunc) << text;
    return dir_ / name;
  }

  test::TempDir temp_;
  const fs::path& dir_ = temp_.path();
};

TEST_F(WatchedLimitFilesTest, NothingWatchedIsNothingChanged) {
  WatchedLimitFiles none;
  EXPECT_TRUE(none.changed().empty());
}

TEST_F(WatchedLimitFilesTest, EachCheckReadsEveryFileAgainAndReportsOnlyThoseThatDiffer) {
  WatchedLimitFiles watched;
  const auto memory = write("memory.limit_in_bytes", "67108864\n");
  watched.watch(memory, "67108864");
  watched.watch(write("pids.max", "64\n"), "64");
  EXPECT_TRUE(watched.changed().empty());

  write("memory.limit_in_bytes", "9223372036854771712\n");
  const auto changes = watched.changed();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].name, memory.string());
  EXPECT_EQ(changes[0].set, "67108864");
  EXPECT_EQ(changes[0].found, "9223372036854771712");

  write("memory.limit_in_bytes", "67108864\n");  // put back: the same descriptor sees it
  EXPECT_TRUE(watched.changed().empty());
}

TEST_F(WatchedLimitFilesTest, AFileThatCannotBeOpenedIsReportedByEveryCheck) {
  WatchedLimitFiles watched;
  watched.watch(dir_ / "absent", "64");
  for (int i = 0; i < 2; ++i) {
    const auto changes = watched.changed();
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].found, "(unreadable: No such file or directory)");
  }
  watched.close();
  EXPECT_TRUE(watched.changed().empty()) << "closed: nothing is watched any more";
}

}  // namespace
}  // namespace isolator::detail
