// Completing a caller's handler with a CallResult: on the handler's associated executor
// (whose outstanding work `work` held while the call was pending), and never letting an
// exception from the handler escape into the isolator's own thread.
#pragma once

#include "guarded.hpp"

#include <isolator/process_isolator.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/dispatch.hpp>

namespace isolator::detail {

inline void deliver(boost::asio::any_completion_executor work, ProcessIsolator::Handler handler,
                    CallResult result) {
  boost::asio::dispatch(work, [handler = std::move(handler), result = std::move(result)]() mutable {
    guarded("a completion handler", [&] { std::move(handler)(std::move(result)); });
  });
}

}  // namespace isolator::detail
