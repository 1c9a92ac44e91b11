// cgroupfs::Hierarchies: this process's cgroup directories from mountinfo and /proc/self/cgroup.
#include "platform/linux/containment/cgroupfs.hpp"

#include <gtest/gtest.h>

namespace isolator::detail::cgroupfs {
namespace {

// A hybrid machine like the project's: v1 controllers and an empty cgroup2.
constexpr const char* hybrid_mountinfo =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec shared:5 - cgroup2 cgroup2 rw,nsdelegate\n"
    "31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:6 - cgroup cgroup rw,memory\n"
    "32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:7 - cgroup cgroup rw,cpu,cpuacct\n"
    "33 25 0:29 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n";
constexpr const char* hybrid_cgroup = "5:pids:/user.slice\n"
                                      "4:cpu,cpuacct:/user.slice/app\n"
                                      "3:memory:/app\n"
                                      "0::/user.slice/app.service\n";

TEST(Hierarchies, FindsEachV1ControllerAndTheV2Directory) {
  const auto h = Hierarchies::parse(hybrid_mountinfo, hybrid_cgroup);
  EXPECT_EQ(h.v1_directory("memory"), std::filesystem::path("/sys/fs/cgroup/memory/app"));
  EXPECT_EQ(h.v1_directory("cpu"), std::filesystem::path("/sys/fs/cgroup/cpu,cpuacct/user.slice/app"));
  EXPECT_EQ(h.v1_directory("cpuacct"), std::filesystem::path("/sys/fs/cgroup/cpu,cpuacct/user.slice/app"));
  EXPECT_EQ(h.v1_directory("pids"), std::filesystem::path("/sys/fs/cgroup/pids/user.slice"));
  EXPECT_EQ(h.v1_directory("freezer"), std::nullopt) << "not mounted";
  EXPECT_EQ(h.v1_directory("cpuac"), std::nullopt) << "a controller matches a whole name";
  EXPECT_EQ(h.v2_directory(), std::filesystem::path("/sys/fs/cgroup/unified/user.slice/app.service"));
}

TEST(Hierarchies, PureV2HasNoV1Directories) {
  const auto h = Hierarchies::parse(
      "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
      "0::/user.slice/user-1000.slice/session-2.scope\n");
  EXPECT_EQ(h.v2_directory(),
            std::filesystem::path("/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope"));
  EXPECT_EQ(h.v1_directory("memory"), std::nullopt);
}

TEST(Hierarchies, AContainersMountRootIsStrippedFromItsOwnPath) {
  // In a container the cgroup2 mount's root is the container's cgroup, which
  // /proc/self/cgroup may still show in full.
  const auto h = Hierarchies::parse("700 690 0:30 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n",
                                    "0::/docker/abc/worker\n");
  EXPECT_EQ(h.v2_directory(), std::filesystem::path("/sys/fs/cgroup/worker"));
  const auto at_root = Hierarchies::parse("700 690 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup rw\n",
                                          "0::/docker/abc\n");
  EXPECT_EQ(at_root.v2_directory(), std::filesystem::path("/sys/fs/cgroup"));
}

TEST(Hierarchies, NothingReadableIsNoHierarchy) {
  const auto h = Hierarchies::parse("", "");
  EXPECT_EQ(h.v2_directory(), std::nullopt);
  EXPECT_EQ(h.v1_directory("memory"), std::nullopt);
  const auto truncated = Hierarchies::parse("31 25 0:27 / /sys/fs/cgroup/memory rw -\n3 garbage\n",
                                            "3:memory");
  EXPECT_EQ(truncated.v1_directory("memory"), std::nullopt);
}

}  // namespace
}  // namespace isolator::detail::cgroupfs
