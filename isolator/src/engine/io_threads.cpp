#include "io_threads.hpp"

#include "../io_thread_mark.hpp"
#include "../log.hpp"

#include <algorithm>

namespace isolator::detail {

IoThreads::IoThreads(std::size_t count) : work_(boost::asio::make_work_guard(io_)) {
  count = std::max<std::size_t>(1, count);
  ids_.resize(count);
  threads_.reserve(count);
  try {
    for (std::size_t i = 0; i < count; ++i) threads_.emplace_back([this, i] { run(i); });
  } catch (...) {
    stop_and_join();
    throw;
  }
  // Filled before any work can be posted: the threads read it only from handlers.
  for (std::size_t i = 0; i < threads_.size(); ++i) ids_[i] = threads_[i].get_id();
}

IoThreads::~IoThreads() {
  if (!released_) stop_and_join();
}

bool IoThreads::in_this_thread() const {
  const auto self = std::this_thread::get_id();
  return std::find(ids_.begin(), ids_.end(), self) != ids_.end();
}

void IoThreads::run(std::size_t) {
  on_an_isolator_io_thread = true;
  // A handler that throws must not take the isolator (or the process) down with it.
  while (true) {
    try {
      io_.run();
      break;
    } catch (const std::exception& e) {
      log().error("an isolator I/O handler threw (carrying on): {}", e.what());
    } catch (...) {
      log().error("an isolator I/O handler threw a non-std::exception (carrying on)");
    }
  }
  if (!released_) return;
  // Released: the last thread out destroys the owner (and with it this object). Nothing of
  // *this is touched after the count, except by that last thread.
  const std::size_t count = threads_.size();
  if (left_.fetch_add(1) + 1 == count) {
    for (auto& thread : threads_) thread.detach();
    const std::shared_ptr<void> owner = std::move(owner_);
  }
}

void IoThreads::stop_and_join() {
  work_.reset();
  io_.stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void IoThreads::release(std::shared_ptr<void> owner) {
  owner_ = std::move(owner);
  released_ = true;
}

void IoThreads::stop() {
  work_.reset();
  io_.stop();
}

}  // namespace isolator::detail
