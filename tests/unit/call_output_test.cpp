#include "call_output.hpp"

#include <gtest/gtest.h>

namespace isolator::detail {
namespace {

TEST(CallOutput, KeepsLinesWithinTheBudgetInOrder) {
  CallOutput output(100);
  output.add(OutputStream::out, "one");
  output.add(OutputStream::err, "two");
  CallResult result;
  output.move_into(result);
  ASSERT_EQ(result.output.size(), 2u);
  EXPECT_EQ(result.output[0].text, "one");
  EXPECT_EQ(result.output[0].stream, OutputStream::out);
  EXPECT_EQ(result.output[1].stream, OutputStream::err);
  EXPECT_FALSE(result.output_truncated);
}

TEST(CallOutput, DropsWhatExceedsTheBudgetAndEndsWithAMarker) {
  CallOutput output(10);
  output.add(OutputStream::out, "12345");
  output.add(OutputStream::out, "67890");
  output.add(OutputStream::out, "x");  // over budget
  output.add(OutputStream::out, "");   // dropped too: kept output has no holes
  CallResult result;
  output.move_into(result);
  EXPECT_TRUE(result.output_truncated);
  ASSERT_EQ(result.output.size(), 3u);
  EXPECT_EQ(result.output[1].text, "67890");
  EXPECT_NE(result.output[2].text.find("output truncated: 2 more lines (1 bytes)"), std::string::npos)
      << result.output[2].text;
  EXPECT_NE(result.output[2].text.find("10 bytes per call"), std::string::npos);
}

}  // namespace
}  // namespace isolator::detail
