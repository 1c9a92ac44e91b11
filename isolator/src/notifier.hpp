// Delivers an isolator's lifecycle events and output lines to the application's callbacks
// (Options::on_event, Options::on_output): on the I/O thread when no callback executor is
// set, else posted to Options::callback_executor in the order they happened.
//
// A callback that throws is logged and ignored. Posted callbacks own a copy of the
// std::functions, so they stay safe to run after the isolator is gone.
#pragma once

#include <isolator/options.hpp>

#include <memory>
#include <string>

namespace isolator::detail {

class Notifier {
 public:
  explicit Notifier(const Options& options);

  void event(Event event) const;
  void output(OutputStream stream, const std::string& line) const;

 private:
  struct Callbacks {
    std::function<void(const Event&)> on_event;
    std::function<void(OutputStream, std::string_view)> on_output;
  };
  std::shared_ptr<const Callbacks> callbacks_;
  boost::asio::any_io_executor executor_;
};

}  // namespace isolator::detail
