// isolator logs through one spdlog logger named "isolator". By default it writes to stderr
// at level info; an application may replace it (its own sinks, level, format).
#pragma once

#include <memory>

namespace spdlog {
class logger;
}

namespace isolator {

/// The logger isolator writes to. Thread-safe.
std::shared_ptr<spdlog::logger> logger();

/// Replaces the logger (nullptr restores the default). Thread-safe; isolators already running
/// switch on their next log line.
void set_logger(std::shared_ptr<spdlog::logger> replacement);

}  // namespace isolator
