#include "notifier.hpp"

#include "guarded.hpp"

#include <boost/asio/post.hpp>

namespace isolator::detail {

Notifier::Notifier(const Options& options)
    : callbacks_(std::make_shared<const Callbacks>(Callbacks{options.on_event, options.on_output})),
      executor_(options.callback_executor) {}

void Notifier::event(Event event) const {
  if (!callbacks_->on_event) return;
  if (!executor_) {
    guarded("Options::on_event", [&] { callbacks_->on_event(event); });
    return;
  }
  boost::asio::post(executor_, [callbacks = callbacks_, event = std::move(event)] {
    guarded("Options::on_event", [&] { callbacks->on_event(event); });
  });
}

void Notifier::output(OutputStream stream, const std::string& line) const {
  if (!callbacks_->on_output) return;
  if (!executor_) {
    guarded("Options::on_output", [&] { callbacks_->on_output(stream, line); });
    return;
  }
  boost::asio::post(executor_, [callbacks = callbacks_, stream, line] {
    guarded("Options::on_output", [&] { callbacks->on_output(stream, line); });
  });
}

}  // namespace isolator::detail
