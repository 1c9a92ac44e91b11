#include "io_threads.hpp"

#include "../io_thread_mark.hpp"
#include "../log.hpp"
#include "../platform/child_process.hpp"

#include <isolator/errors.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <string>

namespace isolator::detail {

IoThreads::IoThreads(std::size_t count) {
  count = std::max<std::size_t>(1, count);
  try {
    for (std::size_t i = 0; i < count; ++i) {
      contexts_.push_back(std::make_unique<Context>());
      // Asio makes a context's reactor, and with it the descriptors it holds (epoll, an
      // eventfd, a timerfd), when the first timer or socket needs it; a timer made now makes
      // it here, where running out of descriptors can be reported as such, rather than inside
      // whatever first makes a timer.
      const boost::asio::steady_timer make_the_reactor_now(contexts_.back()->io);
    }
  } catch (const boost::system::system_error& e) {
    // Asio's own exception would escape create() as something other than an isolator Error.
    const bool from_errno = e.code().category() == boost::system::system_category();
    throw StartError(std::string("cannot create the I/O threads' event loop: ") + e.what() +
                     (from_errno ? out_of_descriptors_hint(e.code().value()) : std::string()));
  }
  threads_.reserve(count);
  try {
    for (auto& context : contexts_) threads_.emplace_back([this, c = context.get()] { run(*c); });
  } catch (...) {
    stop_and_join();
    throw;
  }
  // Filled before any work can be posted: the threads read it only from handlers.
  for (const auto& thread : threads_) ids_.push_back(thread.get_id());
}

IoThreads::~IoThreads() {
  if (!released_) stop_and_join();
}

bool IoThreads::in_this_thread() const {
  return std::find(ids_.begin(), ids_.end(), std::this_thread::get_id()) != ids_.end();
}

void IoThreads::run(Context& context) {
  on_an_isolator_io_thread = true;
  name_this_thread("isolator-io");
  // A handler that throws must not take the isolator (or the process) down with it.
  while (true) {
    try {
      context.io.run();
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
  stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void IoThreads::release(std::shared_ptr<void> owner) {
  owner_ = std::move(owner);
  released_ = true;
}

void IoThreads::stop() {
  for (auto& context : contexts_) {
    context->work.reset();
    context->io.stop();
  }
}

}  // namespace isolator::detail
