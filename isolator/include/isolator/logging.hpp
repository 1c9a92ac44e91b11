// isolator logs through one spdlog logger named "isolator". By default it writes to stderr
// at level info; an application may replace it (its own sinks, level, format).
#pragma once

#include <memory>

namespace spdlog {
class logger;
}

namespace isolator {

/// The logger isolator writes to; never null (the default is made on first use). Thread-safe.
std::shared_ptr<spdlog::logger> logger();

/// Replaces the logger (nullptr restores the default). Thread-safe; isolators already running
/// switch on their next log line. The library logs from its own threads (I/O, pool) and the
/// callers', concurrently: give a replacement thread-safe sinks (spdlog's `_mt` ones).
void set_logger(std::shared_ptr<spdlog::logger> replacement);

}  // namespace isolator
