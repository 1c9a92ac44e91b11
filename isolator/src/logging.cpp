#include <isolator/logging.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace isolator {
namespace {

std::mutex& logger_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::shared_ptr<spdlog::logger>& current() {
  static std::shared_ptr<spdlog::logger> logger;
  return logger;
}

std::shared_ptr<spdlog::logger> make_default() {
  // Not registered with spdlog's global registry, so it cannot clash with an application's
  // own logger of the same name.
  auto logger = std::make_shared<spdlog::logger>("isolator",
                                                 std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(spdlog::level::info);
  return logger;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  std::lock_guard lock(logger_mutex());
  if (!current()) current() = make_default();
  return current();
}

void set_logger(std::shared_ptr<spdlog::logger> replacement) {
  std::lock_guard lock(logger_mutex());
  current() = std::move(replacement);
}

}  // namespace isolator
