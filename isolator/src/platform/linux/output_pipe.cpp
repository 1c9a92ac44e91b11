#include "output_pipe.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>

#include <algorithm>

namespace isolator::detail {

namespace asio = boost::asio;

OutputPipe::OutputPipe(const asio::any_io_executor& executor, UniqueFd fd, OutputStream stream,
                       std::size_t max_line_bytes, OnLine on_line)
    : pipe_(executor, fd.release()),
      stream_(stream),
      splitter_(max_line_bytes),
      on_line_(std::move(on_line)) {
  pipe_.non_blocking(true);
}

void OutputPipe::start() { read_some(); }

void OutputPipe::read_some() {
  // Wait for readability and read in the handler, rather than async_read_some: the reactor
  // then never holds bytes that drain() cannot see, so output is always attributed to the
  // call that was running when it was written.
  pipe_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [self = shared_from_this()](boost::system::error_code error) {
                     if (error) return;  // closed or cancelled
                     if (self->read(ReadTurn::of_a_wake_up())) self->read_some();
                   });
}

void OutputPipe::drain() {
  // What is in the pipe now, and no more: the child wrote it before the reply that called
  // this. A writer the plugin left running (a thread, a process) would otherwise keep this
  // loop going; what it writes later is read by read_some()'s turns.
  if (pipe_.is_open()) read(ReadTurn::of_what_is_in(pipe_.native_handle()));
}

bool OutputPipe::read(ReadTurn turn) {
  if (!pipe_.is_open()) return false;
  for (std::size_t room = turn.room(); room > 0; room = turn.room()) {
    boost::system::error_code error;
    const std::size_t n = pipe_.read_some(asio::buffer(buffer_.data(), std::min(buffer_.size(), room)), error);
    if (error == asio::error::would_block || error == asio::error::try_again) return true;
    if (error || n == 0) return false;  // end-of-file: every writer is gone
    consume(buffer_.data(), n);
    turn.took(n);
  }
  return true;
}

void OutputPipe::flush_partial() {
  splitter_.flush([this](std::string line) { on_line_(stream_, std::move(line)); });
}

void OutputPipe::consume(const char* data, std::size_t size) {
  splitter_.feed(data, size, [this](std::string line) { on_line_(stream_, std::move(line)); });
}

void OutputPipe::close() {
  boost::system::error_code ignored;
  pipe_.close(ignored);
}

}  // namespace isolator::detail
