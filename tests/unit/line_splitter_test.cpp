#include "line_splitter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace isolator::detail {
namespace {

struct Collected {
  std::vector<std::string> lines;
  LineSplitter::Emit emit() {
    return [this](std::string line) { lines.push_back(std::move(line)); };
  }
};

TEST(LineSplitter, SplitsOnNewlinesAndDropsThem) {
  LineSplitter splitter(100);
  Collected out;
  splitter.feed("a\nbb\n\nccc\n", 10, out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"a", "bb", "", "ccc"}));
}

TEST(LineSplitter, JoinsALineFedInPieces) {
  LineSplitter splitter(100);
  Collected out;
  for (char c : std::string("hello\nworld\n")) splitter.feed(&c, 1, out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"hello", "world"}));
}

TEST(LineSplitter, KeepsAnIncompleteLineUntilFlushed) {
  LineSplitter splitter(100);
  Collected out;
  splitter.feed("no newline", 10, out.emit());
  EXPECT_TRUE(out.lines.empty());
  splitter.flush(out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"no newline"}));
  splitter.flush(out.emit());
  EXPECT_EQ(out.lines.size(), 1u) << "a second flush emits nothing";
}

TEST(LineSplitter, CutsAnOverlongLineIntoPiecesOfTheMaximum) {
  LineSplitter splitter(4);
  Collected out;
  const std::string text = "abcdefghij\n";
  splitter.feed(text.data(), text.size(), out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"abcd", "efgh", "ij"}));
}

TEST(LineSplitter, ALineOfExactlyTheMaximumIsOneLine) {
  LineSplitter splitter(4);
  Collected out;
  splitter.feed("abcd", 4, out.emit());
  splitter.feed("\nef\n", 4, out.emit());
  EXPECT_EQ(out.lines, (std::vector<std::string>{"abcd", "ef"}));
}

}  // namespace
}  // namespace isolator::detail
