// Where a caller's cancellation slot sends its cancellation: to the isolator or pool that
// took the call while it exists, nowhere after. Slot handlers share the relay and may
// outlive their target; the target empties it as it goes away.
#pragma once

#include <boost/asio/cancellation_type.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

namespace isolator::detail {

class CancelRelay {
 public:
  /// `target` is called with the call's id, on the thread that emits the cancellation: it
  /// must only post.
  explicit CancelRelay(std::function<void(std::uint64_t)> target) : target_(std::move(target)) {}

  void cancel(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    if (target_) target_(id);
  }

  /// The target is going away: later cancellations do nothing.
  void detach() {
    std::lock_guard lock(mutex_);
    target_ = nullptr;
  }

  /// Installs, in the caller's `slot`, a handler that cancels call `id` through `relay`.
  /// Returns whether one was installed (the slot is connected).
  template <typename Slot>
  static bool install(Slot& slot, const std::shared_ptr<CancelRelay>& relay, std::uint64_t id) {
    if (!slot.is_connected()) return false;
    slot.assign([relay, id](boost::asio::cancellation_type) { relay->cancel(id); });
    return true;
  }

 private:
  std::mutex mutex_;
  std::function<void(std::uint64_t)> target_;
};

}  // namespace isolator::detail
