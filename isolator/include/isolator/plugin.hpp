/* What a plugin author needs, and all of it: an export macro for the method, the call's
 * input bytes and result bytes, and access to the values the host stored with
 * ProcessIsolator::set_data.
 *
 * A plugin is a shared object exporting
 *
 *     ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv);
 *
 * (any name; the host names the symbol per call). argv[0] is the library's path, argv[1..]
 * are the call's arguments, argv[argc] is NULL. The return value is the call's code.
 * A plugin links nothing from isolator: the functions below are provided by pihost at load
 * time and are declared weak, so the same .so still loads (with them NULL) elsewhere.
 *
 * Beside its int, a call carries bytes both ways, for what argv cannot hold (NUL bytes, or
 * a structured value: the host's isolator/values.hpp packs and reads msgpack):
 * Invocation::input arrives as isolator_input(), and isolator_result_set() hands bytes back
 * in CallResult::bytes.
 *
 * This header compiles as C and as C++. */
#ifndef ISOLATOR_PLUGIN_HPP
#define ISOLATOR_PLUGIN_HPP

#include <stddef.h>

#ifdef __cplusplus
#define ISOLATOR_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))
extern "C" {
#else
#define ISOLATOR_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Copies the value stored under `key` into `buffer` (at most `capacity` bytes) and sets
 * `*size` to the value's full length in bytes. Returns 1 when the key exists, 0 when it does
 * not, -1 when `key` or `size` is NULL, or `buffer` is NULL with a non-zero `capacity`
 * (a NULL `buffer` with capacity 0 asks for the size only); -1 also when memory ran out. Thread-safe. Provided by
 * pihost (NULL outside pihost). */
__attribute__((weak)) int isolator_data_get(const char* key, void* buffer, size_t capacity, size_t* size);

/* Stores a copy of `size` bytes at `data` under `key`, replacing any previous value; the
 * host reads it back with ProcessIsolator::get_data. Returns 0 on success, -1 when `key` is
 * NULL, `data` is NULL with a non-zero `size`, or memory ran out. Thread-safe. Provided by pihost (NULL outside). */
__attribute__((weak)) int isolator_data_set(const char* key, const void* data, size_t size);

/* The running call's input bytes (Invocation::input): sets `*size` (when `size` is not NULL)
 * to their length and returns them, valid until the method returns; not NUL-terminated.
 * A call without input gives a non-NULL pointer and size 0. Outside a call (before the
 * method was entered, or after it returned) NULL and size 0. Any thread; but a thread the
 * method left running that asks while a later call runs gets that call's input (pihost
 * cannot tell which call a thread works for). Provided by pihost (NULL outside). */
__attribute__((weak)) const void* isolator_input(size_t* size);

/* Sets the running call's result bytes to a copy of `size` bytes at `data`, replacing any set
 * before in this call; the host gets them in CallResult::bytes. The last set wins. Returns
 * 0 on success; -1 outside a call, when `data` is NULL with a non-zero `size`, or memory ran
 * out (nothing is then changed); -2 when `size` is over the cap (isolator_result_limit(),
 * Options::max_result_bytes): bytes set before are dropped and, unless a later set fits,
 * the call fails with FailureKind::result_too_large, naming both sizes. Any thread, while
 * the call runs; a thread the method left running that sets bytes while a later call runs
 * sets that call's (pihost cannot tell which call a thread works for). Provided by pihost
 * (NULL outside). */
__attribute__((weak)) int isolator_result_set(const void* data, size_t size);

/* The most result bytes the running call may set (Options::max_result_bytes); 0 outside a
 * call. Any thread. Provided by pihost (NULL outside). */
__attribute__((weak)) size_t isolator_result_limit(void);

#ifdef __cplusplus
} /* extern "C" */

#include <optional>
#include <string>
#include <string_view>

namespace isolator::plugin {

/// True when the plugin runs inside pihost (the data functions are available). Never throws;
/// any thread.
inline bool in_pihost() { return isolator_data_get != nullptr && isolator_data_set != nullptr; }

/// The value stored under `key`, or nothing when there is none, outside pihost, or when
/// pihost ran out of memory. Thread-safe; throws only std::bad_alloc.
inline std::optional<std::string> get_data(const std::string& key) {
  if (!in_pihost()) return std::nullopt;
  std::string value(256, '\0');
  size_t size = 0;
  while (true) {
    if (isolator_data_get(key.c_str(), value.data(), value.size(), &size) != 1) {
      return std::nullopt;
    }
    if (size <= value.size()) break;
    value.resize(size);  // the value was larger than the buffer: fetch it again, whole
  }
  value.resize(size);
  return value;
}

/// Stores `value` under `key`; false outside pihost or when memory ran out. Never throws;
/// thread-safe.
inline bool set_data(const std::string& key, const std::string& value) {
  return in_pihost() && isolator_data_set(key.c_str(), value.data(), value.size()) == 0;
}

/// The running call's input bytes (isolator_input); an empty view when it has none, and
/// nothing outside a call or outside pihost. The view is valid until the method returns.
/// Never throws; any thread.
inline std::optional<std::string_view> input() {
  if (isolator_input == nullptr) return std::nullopt;
  size_t size = 0;
  const void* data = isolator_input(&size);
  if (data == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(data), size);
}

/// Sets the running call's result bytes (isolator_result_set): true when they were set;
/// false outside pihost or a call, when memory ran out, or when they are over the cap (the
/// call then fails with result_too_large unless a later set_result fits). Never throws; any
/// thread.
inline bool set_result(std::string_view bytes) {
  return isolator_result_set != nullptr && isolator_result_set(bytes.data(), bytes.size()) == 0;
}

}  // namespace isolator::plugin
#endif /* __cplusplus */

#endif /* ISOLATOR_PLUGIN_HPP */
