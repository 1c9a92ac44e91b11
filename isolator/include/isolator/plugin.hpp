/* What a plugin author needs, and all of it: an export macro for the method, the call's
 * input bytes and result bytes, calls to the host's services, and access to the values the
 * host stored with ProcessIsolator::set_data.
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

/* isolator_call_host's return values. */
#define ISOLATOR_HOST_OK 0               /* the service answered; *answer holds its bytes */
#define ISOLATOR_HOST_INVALID (-1)       /* a NULL argument, outside pihost, out of memory, or a
                                            service name and bytes too large for a frame */
#define ISOLATOR_HOST_UNKNOWN_SERVICE (-2) /* the host has no such service; *answer says which it has */
#define ISOLATOR_HOST_THREW (-3)         /* the service threw; *answer holds its what() */
#define ISOLATOR_HOST_BUSY (-4)          /* the host already runs as many of this child's service
                                            calls as it allows (Options::max_service_calls) */
#define ISOLATOR_HOST_ENDED (-5)         /* no call is running (the method returned), or the
                                            isolator is shutting down */

/* Calls the host's service `service` (Options::services) with `size` bytes at `data`, and
 * blocks until it answers. Any of the plugin's threads may call it, several at once, while a
 * call runs; the time it takes counts against the call's deadline. Returns one of the
 * ISOLATOR_HOST_ codes above. For OK, THREW and UNKNOWN_SERVICE, `*answer` is set to a
 * malloc'd buffer of `*answer_size` bytes (followed by a NUL byte not counted), which the
 * caller frees with free(); otherwise to NULL and 0. Never hangs for a host that is gone or
 * shutting down: the child then ends, or the call gets ISOLATOR_HOST_ENDED. (A thread still
 * waiting when its method returned waits for the service's answer, with no deadline.) A thread the
 * method left running gets ISOLATOR_HOST_ENDED between calls, but while a later call runs its
 * service calls count as that call's (pihost cannot tell which call a thread works for).
 * Provided by pihost (NULL outside). */
__attribute__((weak)) int isolator_call_host(const char* service, const void* data, size_t size, void** answer,
                                             size_t* answer_size);

#ifdef __cplusplus
} /* extern "C" */

#include <cstdlib>
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

/// What a host service answered (call_host).
struct HostAnswer {
  int code = ISOLATOR_HOST_INVALID;  ///< an ISOLATOR_HOST_ code
  std::string bytes;                 ///< the answer for OK; the reason for THREW and UNKNOWN_SERVICE
  bool ok() const { return code == ISOLATOR_HOST_OK; }
};

/// Calls the host's service `service` with `bytes` (isolator_call_host) and waits for it.
/// Outside pihost the code is ISOLATOR_HOST_INVALID. Any thread; throws only std::bad_alloc.
inline HostAnswer call_host(const std::string& service, std::string_view bytes) {
  if (isolator_call_host == nullptr) return {};
  void* answer = nullptr;
  size_t size = 0;
  HostAnswer result;
  result.code = isolator_call_host(service.c_str(), bytes.data(), bytes.size(), &answer, &size);
  if (answer != nullptr) {
    try {
      result.bytes.assign(static_cast<const char*>(answer), size);
    } catch (...) {
      std::free(answer);
      throw;
    }
    std::free(answer);
  }
  return result;
}

}  // namespace isolator::plugin
#endif /* __cplusplus */

#endif /* ISOLATOR_PLUGIN_HPP */
