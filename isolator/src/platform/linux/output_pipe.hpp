// Reads one of the child's output pipes on the I/O thread and hands out its lines.
#pragma once

#include "line_splitter.hpp"
#include "read_turn.hpp"
#include "unique_fd.hpp"

#include <isolator/call_result.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <cstddef>
#include <functional>
#include <memory>

namespace isolator::detail {

class OutputPipe : public std::enable_shared_from_this<OutputPipe> {
 public:
  using OnLine = std::function<void(OutputStream, std::string)>;

  OutputPipe(const boost::asio::any_io_executor& executor, UniqueFd fd, OutputStream stream,
             std::size_t max_line_bytes, OnLine on_line);

  /// Starts reading asynchronously until end-of-file or close(), a ReadTurn per wake-up of
  /// the I/O thread, so that a child writing without pause cannot hold that thread.
  void start();

  /// Reads, without blocking, what is in the pipe at the moment of the call (not what is
  /// written while it reads) and emits its complete lines. Used when the child's reply (or
  /// exit) proves that what it wrote before is in the pipe.
  void drain();

  /// Emits the pending incomplete line, if any.
  void flush_partial();

  void close();

 private:
  void read_some();
  /// Reads until the pipe is empty or the turn is over; false at end-of-file or on an error.
  bool read(ReadTurn turn);
  void consume(const char* data, std::size_t size);

  boost::asio::posix::stream_descriptor pipe_;
  OutputStream stream_;
  LineSplitter splitter_;
  OnLine on_line_;
  std::array<char, 65536> buffer_{};
};

}  // namespace isolator::detail
