// Completing a caller's handler with a CallResult (and making the result of a call that
// failed for the isolator's own reasons): on the handler's associated executor
// (whose outstanding work `work` held while the call was pending), and never letting an
// exception from the handler escape into the isolator's own thread.
#pragma once

#include "guarded.hpp"

#include <isolator/process_isolator.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/dispatch.hpp>

#include <future>
#include <string>

namespace isolator::detail {

/// The blocking form of a call: `start(handler)` queues it (and may throw, as the caller's
/// asynchronous form does); waits for its handler and returns its result.
template <class Start>
CallResult wait_for_call(Start start) {
  std::promise<CallResult> promise;
  auto future = promise.get_future();
  start(ProcessIsolator::Handler([&promise](CallResult result) { promise.set_value(std::move(result)); }));
  return future.get();
}

/// A Failure of `kind` saying `message`, its other members empty.
inline Failure failure_of(FailureKind kind, std::string message) {
  Failure failure;
  failure.kind = kind;
  failure.message = std::move(message);
  return failure;
}

/// The result of a call that did not return from the method for a reason the isolator or
/// the pool knows itself (shutdown, restart limit, ...): no exit code, no signal.
inline CallResult failed(FailureKind kind, std::string message) {
  CallResult result;
  result.failure = failure_of(kind, std::move(message));
  return result;
}

/// Whether the operation put a cancellation handler into the caller's slot.
enum class Cancellation { none, installed };

/// Runs `handler(result)` on `work`. With Cancellation::installed, first removes the
/// operation's handler from the caller's cancellation slot, there: on the handler's
/// executor, where the caller emits its signal (Asio's slots are not thread-safe).
inline void deliver(boost::asio::any_completion_executor work, ProcessIsolator::Handler handler,
                    CallResult result, Cancellation cancellation = Cancellation::none) {
  boost::asio::dispatch(
      work, [handler = std::move(handler), result = std::move(result), cancellation]() mutable {
        if (cancellation == Cancellation::installed) {
          if (auto slot = boost::asio::get_associated_cancellation_slot(handler); slot.is_connected())
            slot.clear();
        }
        guarded("a completion handler", [&] { std::move(handler)(std::move(result)); });
      });
}

}  // namespace isolator::detail
