#include "host_calls.hpp"

#include <isolator/plugin.hpp>
#include <isolator/wire/codec.hpp>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

namespace pihost {

namespace wire = isolator::wire;

namespace {

int code_of(wire::HostStatus status) {
  switch (status) {
    case wire::HostStatus::ok: return ISOLATOR_HOST_OK;
    case wire::HostStatus::unknown_service: return ISOLATOR_HOST_UNKNOWN_SERVICE;
    case wire::HostStatus::threw: return ISOLATOR_HOST_THREW;
    case wire::HostStatus::busy: return ISOLATOR_HOST_BUSY;
    case wire::HostStatus::ended: return ISOLATOR_HOST_ENDED;
  }
  return ISOLATOR_HOST_ENDED;
}

// What a CallHost frame holds besides its service name and bytes, with room to spare.
constexpr std::size_t call_host_overhead = 64;

}  // namespace

HostCalls& HostCalls::instance() {
  // Never destroyed, as DataStore: a plugin's thread may still use it while exit() runs.
  static auto* calls = new HostCalls;
  return *calls;
}

void HostCalls::attach(Channel& channel, std::function<void()> want_reader) {
  std::lock_guard lock(mutex_);
  channel_ = &channel;
  want_reader_ = std::move(want_reader);
}

void HostCalls::begin(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  running_ = id;
}

void HostCalls::end() {
  std::lock_guard lock(mutex_);
  running_.reset();
}

HostCalls::Answer HostCalls::call(std::string_view service, std::string_view bytes) {
  std::unique_lock lock(mutex_);
  if (!running_ || channel_ == nullptr) return {ISOLATOR_HOST_ENDED, {}};
  if (service.size() + bytes.size() + call_host_overhead > channel_->max_frame_bytes()) {
    return {ISOLATOR_HOST_INVALID, {}};
  }
  const std::uint64_t seq = ++next_seq_;
  const std::uint64_t id = *running_;
  waiters_.emplace(seq, std::nullopt);
  lock.unlock();
  try {
    channel_->send(wire::CallHost{id, seq, std::string(service), std::string(bytes)});
  } catch (const std::exception&) {  // the host is gone: pihost is about to leave
    lock.lock();
    waiters_.erase(seq);
    return {ISOLATOR_HOST_ENDED, {}};
  }
  want_reader_();
  lock.lock();
  answered_.wait(lock, [&] { return waiters_.at(seq).has_value(); });
  wire::HostAnswer answer = std::move(*waiters_.at(seq));
  waiters_.erase(seq);
  return {code_of(answer.status), std::move(answer.bytes)};
}

void HostCalls::answer(wire::HostAnswer answer) {
  {
    std::lock_guard lock(mutex_);
    auto waiter = waiters_.find(answer.seq);
    if (waiter == waiters_.end() || waiter->second) {
      throw wire::ProtocolError("the host answered service call " + std::to_string(answer.seq) +
                                ", which nobody waits for");
    }
    waiter->second = std::move(answer);
  }
  answered_.notify_all();
}

std::size_t HostCalls::waiting() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

}  // namespace pihost

extern "C" int isolator_call_host(const char* service, const void* data, size_t size, void** answer,
                                  size_t* answer_size) {
  if (service == nullptr || (data == nullptr && size > 0) || answer == nullptr || answer_size == nullptr) {
    return ISOLATOR_HOST_INVALID;
  }
  *answer = nullptr;
  *answer_size = 0;
  try {
    auto result = pihost::HostCalls::instance().call(
        service, std::string_view(size > 0 ? static_cast<const char*>(data) : "", size));
    if (result.code == ISOLATOR_HOST_OK || result.code == ISOLATOR_HOST_THREW ||
        result.code == ISOLATOR_HOST_UNKNOWN_SERVICE) {
      void* copy = std::malloc(result.bytes.size() + 1);  // + 1: never malloc(0), and a NUL after
      if (copy == nullptr) return ISOLATOR_HOST_INVALID;
      std::memcpy(copy, result.bytes.data(), result.bytes.size());
      static_cast<char*>(copy)[result.bytes.size()] = '\0';
      *answer = copy;
      *answer_size = result.bytes.size();
    }
    return result.code;
  } catch (const std::bad_alloc&) {
    return ISOLATOR_HOST_INVALID;
  }
}
