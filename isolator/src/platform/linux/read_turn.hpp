// How much one wake-up of the I/O thread reads from one of a child's descriptors (an output
// pipe, the channel) before it waits again. A child that writes faster than the host
// handles what it reads (a flood, a slow Options::on_output, a loaded or instrumented host)
// would otherwise keep the thread in one handler for as long as it writes: the call's
// timeout, the heartbeat, the other descriptors and every other isolator the thread serves
// would wait. Waiting again puts this descriptor behind them (an async_wait on a descriptor
// that still holds data completes from the next epoll_wait, with the expired timers).
#pragma once

#include <sys/ioctl.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>

namespace isolator::detail {

class ReadTurn {
 public:
  static constexpr std::size_t max_bytes = std::size_t{1} << 20;
  static constexpr std::chrono::milliseconds max_time{5};

  /// A turn of a wake-up: at most max_bytes, and no new read once max_time has passed.
  static ReadTurn of_a_wake_up() { return ReadTurn(max_bytes, std::chrono::steady_clock::now() + max_time); }

  /// Exactly what `fd` holds now (FIONREAD), however long it takes: what a child wrote before
  /// its reply, or its exit, belongs to that moment. Where FIONREAD fails, a wake-up's turn.
  static ReadTurn of_what_is_in(int fd) {
    int bytes = 0;
    if (::ioctl(fd, FIONREAD, &bytes) != 0) return of_a_wake_up();
    return ReadTurn(static_cast<std::size_t>(std::max(bytes, 0)), std::nullopt);
  }

  /// How many bytes the next read may take (0: the turn is over).
  std::size_t room() const {
    if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) return 0;
    return left_;
  }
  void took(std::size_t bytes) { left_ -= std::min(bytes, left_); }

 private:
  ReadTurn(std::size_t bytes, std::optional<std::chrono::steady_clock::time_point> deadline)
      : left_(bytes), deadline_(deadline) {}

  std::size_t left_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

}  // namespace isolator::detail
