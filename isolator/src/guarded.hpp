// Runs code the isolator does not control (an application's callback or completion handler)
// so that what it throws is logged and goes no further: never into an isolator's or a
// pool's own thread.
#pragma once

#include "log.hpp"

#include <exception>
#include <string_view>

namespace isolator::detail {

/// Calls `code()`; an exception is logged as "`who` threw (ignored): ..." and swallowed.
template <typename F>
void guarded(std::string_view who, F&& code) noexcept {
  try {
    code();
  } catch (const std::exception& e) {
    log().error("{} threw (ignored): {}", who, e.what());
  } catch (...) {
    log().error("{} threw a non-std::exception (ignored)", who);
  }
}

}  // namespace isolator::detail
