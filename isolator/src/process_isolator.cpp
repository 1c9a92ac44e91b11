#include "isolator_impl.hpp"
#include "proc_usage.hpp"

#include <isolator/errors.hpp>

#include <future>

namespace isolator {

std::unique_ptr<ProcessIsolator> ProcessIsolator::create(Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  try {
    impl->start();
  } catch (...) {
    impl->shutdown();  // reaps whatever was spawned and removes the private directory
    throw;
  }
  return std::unique_ptr<ProcessIsolator>(new ProcessIsolator(std::move(impl)));
}

ProcessIsolator::ProcessIsolator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessIsolator::~ProcessIsolator() {
  if (impl_->on_io_thread()) {
    // Destroyed from one of its own handlers: waiting here would wait for itself.
    Impl::release_from_own_thread(std::move(impl_));
    return;
  }
  impl_->shutdown();
}

CallResult ProcessIsolator::invoke(std::string library, std::string symbol,
                                   std::vector<std::string> args, CallOptions options) {
  return invoke(Invocation{std::move(library), std::move(symbol), std::move(args), options});
}

CallResult ProcessIsolator::invoke(Invocation invocation) {
  if (impl_->on_io_thread()) {
    throw Error("invoke() was called from the isolator's own I/O thread (a callback or a "
                "completion handler), where it would wait for itself; use async_invoke there");
  }
  std::promise<CallResult> promise;
  auto future = promise.get_future();
  start_invoke(std::move(invocation),
               Handler([&promise](CallResult result) { promise.set_value(std::move(result)); }));
  return future.get();
}

void ProcessIsolator::start_invoke(Invocation invocation, Handler handler) {
  impl_->submit(std::move(invocation), std::move(handler));
}

void ProcessIsolator::set_data(const std::string& key, std::string value) {
  impl_->set_data(key, std::move(value));
}

std::optional<std::string> ProcessIsolator::get_data(const std::string& key) {
  return impl_->get_data(key);
}

int ProcessIsolator::pid() const { return impl_->pid(); }

State ProcessIsolator::state() const { return impl_->state(); }

std::string ProcessIsolator::containment() const { return impl_->containment(); }

ResourceUsage ProcessIsolator::resource_usage() const {
  return detail::read_process_usage(impl_->pid());
}

boost::asio::any_io_executor ProcessIsolator::get_executor() const { return impl_->executor(); }

void ProcessIsolator::reset() { impl_->reset(); }

void ProcessIsolator::shutdown() { impl_->shutdown(); }

}  // namespace isolator
