// Internal access to the "isolator" logger (see isolator/logging.hpp).
#pragma once

#include <isolator/logging.hpp>

#include <spdlog/spdlog.h>

namespace isolator::detail {

/// The current logger. The reference stays valid for the caller's statement only.
inline spdlog::logger& log() {
  thread_local std::shared_ptr<spdlog::logger> held;
  held = isolator::logger();
  return *held;
}

}  // namespace isolator::detail
