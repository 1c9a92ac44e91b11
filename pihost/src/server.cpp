#include "server.hpp"

#include "crash_capture.hpp"
#include "data_store.hpp"
#include "host_calls.hpp"
#include "host_watch.hpp"

#include <isolator/wire/codec.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <thread>

namespace pihost {
namespace {

namespace wire = isolator::wire;

// Room for a DataValue's other fields and headers within a frame.
constexpr std::size_t frame_overhead_bytes = 64;
constexpr int timer_fd_floor = 100;

}  // namespace

void end_conversation(const std::exception& error) {
  if (dynamic_cast<const wire::ProtocolError*>(&error) != nullptr) {
    std::fprintf(stderr, "pihost: protocol error: %s\n", error.what());
    leave(wire::exit_protocol);
  }
  std::fprintf(stderr, "pihost: %s\n", error.what());
  leave(wire::exit_host_gone);
}

Server::Server(Channel& channel, std::string links_directory, std::size_t max_result_bytes)
    : channel_(channel), runner_(channel, std::move(links_directory), max_result_bytes) {
  const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "timerfd_create");
  // Out of the way of the low numbers a plugin may close or reuse, like the channel's.
  timer_fd_ = fd;
  if (const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, timer_fd_floor); high >= 0) {
    ::close(fd);
    timer_fd_ = high;
  }
  HostCalls::instance().attach(channel_, [this] { want_reader(); });
  std::thread([this] { relieve(); }).detach();  // never joined: pihost leaves with _exit
}

bool Server::handle(wire::Message& message) {
  if (wire::sender_of(message) != wire::Sender::host) {
    throw wire::ProtocolError("the host sent " + std::string(wire::message_name(message)) +
                              ", which only pihost may send");
  }
  if (std::holds_alternative<wire::Invoke>(message) || std::holds_alternative<wire::Run>(message)) return true;
  if (auto* set = std::get_if<wire::SetData>(&message)) {
    DataStore::instance().set(set->key, std::move(set->value));
  } else if (auto* answer = std::get_if<wire::HostAnswer>(&message)) {
    HostCalls::instance().answer(std::move(*answer));
  } else if (auto* ping = std::get_if<wire::Ping>(&message)) {
    channel_.send(wire::Pong{ping->seq});
  } else if (auto* get = std::get_if<wire::GetData>(&message)) {
    auto value = DataStore::instance().get(get->key);
    if (value && value->size() + frame_overhead_bytes > channel_.max_frame_bytes()) {
      std::fprintf(stderr, "pihost: the value of '%s' (%zu bytes) is too large to send\n", get->key.c_str(),
                   value->size());
      value.reset();
    }
    channel_.send(wire::DataValue{get->id, value.has_value(), value.value_or("")});
  } else {  // a message of the host's that this pihost does not know how to handle
    throw wire::ProtocolError("pihost cannot handle the host's " + std::string(wire::message_name(message)));
  }
  return false;
}

void Server::serve() {
  while (true) {
    Call call;
    std::unique_lock lock(mutex_);
    if (!queued_.empty()) {
      call = std::move(queued_.front());
      queued_.pop_front();
      lock.unlock();
    } else {
      lock.unlock();
      auto message = channel_.receive();  // the relief thread is not reading: reclaim() saw to it
      if (!message) return;
      if (!handle(*message)) continue;
      if (auto* invoke = std::get_if<wire::Invoke>(&*message)) {
        call = std::move(*invoke);
      } else {
        call = std::move(std::get<wire::Run>(*message));
      }
    }
    lock.lock();
    call_running_ = true;
    call_started_ = std::chrono::steady_clock::now();
    if (!timer_armed_) {
      timer_armed_ = true;
      arm_timer(relief_delay);
    }
    lock.unlock();
    std::visit([this](auto& c) { runner_.run(c); }, call);
    reclaim();
  }
}

void Server::arm_timer(std::chrono::nanoseconds after) {
  itimerspec when{};
  when.it_value.tv_sec = static_cast<time_t>(after.count() / 1'000'000'000);
  when.it_value.tv_nsec = static_cast<long>(after.count() % 1'000'000'000);
  ::timerfd_settime(timer_fd_, 0, &when, nullptr);
}

void Server::reclaim() {
  std::unique_lock lock(mutex_);
  call_running_ = false;
  reader_wanted_ = false;
  if (!relief_reading_) return;
  // The relief thread waits for the channel or the timer: the timer, expiring at once,
  // sends it back to sleep.
  timer_armed_ = true;
  arm_timer(std::chrono::nanoseconds(1));
  released_.wait(lock, [&] { return !relief_reading_; });
}

void Server::want_reader() {
  std::lock_guard lock(mutex_);
  // Between calls the main thread reads; the relief thread already reading reads the answer.
  if (!call_running_ || relief_reading_) return;
  reader_wanted_ = true;
  timer_armed_ = true;
  arm_timer(std::chrono::nanoseconds(1));
}

void Server::relieve() {
  crash::give_alternate_stack();
  while (true) {
    std::uint64_t expirations = 0;
    if (::read(timer_fd_, &expirations, sizeof(expirations)) < 0 && errno != EINTR) {
      std::fprintf(stderr, "pihost: relief timer: %s\n", std::strerror(errno));
      leave(wire::exit_internal_error);
    }
    {
      std::lock_guard lock(mutex_);
      timer_armed_ = false;
      if (!call_running_) continue;  // between calls: sleep until the next burst arms it
      const auto ran = std::chrono::steady_clock::now() - call_started_;
      if (ran < relief_delay && !reader_wanted_) {  // a call that began since the timer was set
        timer_armed_ = true;
        arm_timer(relief_delay - ran);
        continue;
      }
      relief_reading_ = true;
      reader_wanted_ = false;
    }
    read_while_the_call_runs();
    {
      std::lock_guard lock(mutex_);
      relief_reading_ = false;
    }
    released_.notify_one();
  }
}

void Server::read_while_the_call_runs() {
  try {
    while (true) {
      {
        std::lock_guard lock(mutex_);
        if (!call_running_) return;
      }
      pollfd fds[2] = {{channel_.fd(), POLLIN, 0}, {timer_fd_, POLLIN, 0}};
      // A frame that came with the last one is already read: no waiting for it.
      if (!channel_.has_buffered() && ::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "poll");
      }
      if (fds[1].revents != 0) {  // reclaim() wants the channel back
        std::uint64_t expirations = 0;
        [[maybe_unused]] const ssize_t n = ::read(timer_fd_, &expirations, sizeof(expirations));
        std::lock_guard lock(mutex_);
        timer_armed_ = false;
        continue;
      }
      auto message = channel_.receive();
      if (!message) leave(0);  // the host closed the channel, as main.cpp does
      if (handle(*message)) {
        std::lock_guard lock(mutex_);
        if (auto* invoke = std::get_if<wire::Invoke>(&*message)) {
          queued_.emplace_back(std::move(*invoke));
        } else {
          queued_.emplace_back(std::move(std::get<wire::Run>(*message)));
        }
      }
    }
  } catch (const std::exception& e) {
    end_conversation(e);
  }
}

}  // namespace pihost
