// Records what an isolator reports to Options::on_event, for a test to read from its own
// thread (events arrive on the isolator's, possibly just after a call's result).
#pragma once

#include <isolator/events.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace isolator::test {

class EventRecorder {
 public:
  /// For Options::on_event; the recorder must outlive the isolator.
  std::function<void(const Event&)> callback() {
    return [this](const Event& e) {
      std::lock_guard lock(mutex_);
      events_.push_back(e);
    };
  }

  /// Every event of type T so far, in order.
  template <class T>
  std::vector<T> all() {
    std::lock_guard lock(mutex_);
    std::vector<T> found;
    for (const auto& e : events_) {
      if (const auto* t = std::get_if<T>(&e)) found.push_back(*t);
    }
    return found;
  }

  /// Waits up to `limit` for `done()` to hold; whether it did.
  static bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
  }

  /// Waits up to `limit` for `count` events of type T; whether they came.
  template <class T>
  bool wait_for(std::size_t count, std::chrono::milliseconds limit = std::chrono::seconds(2)) {
    return wait_until([&] { return all<T>().size() >= count; }, limit);
  }

 private:
  std::mutex mutex_;
  std::vector<Event> events_;
};

}  // namespace isolator::test
