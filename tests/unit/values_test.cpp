// isolator/values.hpp: C++ values to and from a call's bytes. The bytes come from an untrusted
// plugin: anything but exactly one msgpack value of the asked type is an Error.
#include <isolator/values.hpp>

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace isolator {
namespace {

template <class T>
std::string error_of(std::string_view bytes) {
  try {
    from_bytes<T>(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Values, ValuesRoundTrip) {
  const std::map<std::string, std::vector<int>> map{{"a", {1, 2}}, {"b", {}}};
  EXPECT_EQ((from_bytes<std::map<std::string, std::vector<int>>>(to_bytes(map))), map);
  const std::string with_nul("x\0y", 3);
  EXPECT_EQ(from_bytes<std::string>(to_bytes(with_nul)), with_nul);
  EXPECT_EQ(from_bytes<int>(to_bytes(-7)), -7);
}

TEST(Values, EmptyTruncatedAndTrailingBytesAreErrorsSayingWhich) {
  EXPECT_EQ(error_of<int>(""), "no bytes to read a msgpack value from");
  const std::string array = to_bytes(std::vector<int>{1, 2, 3});
  EXPECT_NE(error_of<std::vector<int>>(array.substr(0, 2)).find("end inside"), std::string::npos)
      << error_of<std::vector<int>>(array.substr(0, 2));
  const std::string text = to_bytes(std::string("abc"));
  EXPECT_NE(error_of<std::string>(text.substr(0, 1)).find("end inside a msgpack value"), std::string::npos)
      << error_of<std::string>(text.substr(0, 1));
  EXPECT_NE(error_of<std::vector<int>>(array + "\x01").find("1 more bytes after one msgpack value of 4"),
            std::string::npos);
}

TEST(Values, NestingDeeperThanTheLimitIsAnError) {
  const std::string deep = std::string(65, '\x91') + '\x01';
  EXPECT_NE(error_of<int>(deep).find("nests deeper than 64"), std::string::npos) << error_of<int>(deep);
  const std::string at_limit = std::string(64, '\x91') + '\x01';
  EXPECT_NO_THROW(unpack_bytes(at_limit));
  EXPECT_THROW(unpack_bytes(at_limit, 8), Error);
}

// A header that claims 4 G elements in 5 bytes must not make the reader allocate for them.
TEST(Values, AContainerLargerThanItsBytesIsAnErrorNotAnAllocation) {
  EXPECT_NE(error_of<std::vector<int>>(std::string("\xdd\xff\xff\xff\xff", 5)).find("more elements than"),
            std::string::npos);
  EXPECT_THROW(unpack_bytes(std::string("\xdf\xff\xff\xff\xff", 5)), Error);
  EXPECT_THROW(unpack_bytes(std::string("\xc6\xff\xff\xff\xff", 5)), Error);
}

// 64 nested map headers of 5 bytes, each claiming 1 M pairs: msgpack::unpack would allocate
// room for every claim as it met it (gigabytes); the claims are refused before anything is built.
TEST(Values, NestedHeadersClaimingMoreThanTheBytesHoldAreRefusedBeforeAnythingIsBuilt) {
  std::string bomb;
  for (int i = 0; i < 64; ++i) bomb += std::string("\xdf\x00\x10\x00\x00", 5);
  using Map = std::map<std::string, int>;
  EXPECT_NE(error_of<Map>(bomb).find("claim more elements than its 320 bytes"), std::string::npos)
      << error_of<Map>(bomb);
}

TEST(Values, AValueOfAnotherTypeIsAnError) {
  EXPECT_NE(error_of<int>(to_bytes(std::string("text"))).find("does not convert"), std::string::npos);
  EXPECT_NE(error_of<std::vector<int>>(to_bytes(std::map<int, int>{{1, 2}})).find("does not convert"),
            std::string::npos);
}

TEST(Values, MalformedBytesAreAnError) {
  EXPECT_THROW(unpack_bytes(std::string("\xc1", 1)), Error);  // 0xc1 is never used
}

}  // namespace
}  // namespace isolator
