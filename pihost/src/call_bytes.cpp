#include "call_bytes.hpp"

#include <isolator/plugin.hpp>

#include <new>
#include <utility>

namespace pihost {

CallBytes& CallBytes::instance() {
  // Never destroyed, as DataStore: a plugin's thread may still use it while exit() runs.
  static auto* bytes = new CallBytes;
  return *bytes;
}

void CallBytes::begin(std::string input, std::size_t max_result_bytes) {
  std::lock_guard lock(mutex_);
  input_ = std::move(input);
  max_result_bytes_ = max_result_bytes;
  result_ = {};
  running_ = true;
}

ResultBytes CallBytes::end() {
  std::lock_guard lock(mutex_);
  running_ = false;
  return std::exchange(result_, {});
}

std::pair<const char*, std::size_t> CallBytes::input() const {
  std::lock_guard lock(mutex_);
  if (!running_) return {nullptr, 0};
  return {input_.data(), input_.size()};
}

int CallBytes::set_result(const void* data, std::size_t size) {
  std::lock_guard lock(mutex_);
  if (!running_) return -1;
  if (size > max_result_bytes_) {
    result_.bytes.reset();
    result_.refused_size = size;
    return -2;
  }
  try {
    std::string copy(static_cast<const char*>(data), size);  // may throw: nothing changed yet
    result_.bytes = std::move(copy);
  } catch (const std::bad_alloc&) {
    return -1;
  }
  result_.refused_size.reset();
  return 0;
}

std::size_t CallBytes::max_result_bytes() const {
  std::lock_guard lock(mutex_);
  return running_ ? max_result_bytes_ : 0;
}

}  // namespace pihost

extern "C" const void* isolator_input(size_t* size) {
  const auto [data, length] = pihost::CallBytes::instance().input();
  if (size != nullptr) *size = length;
  return data;
}

extern "C" int isolator_result_set(const void* data, size_t size) {
  if (data == nullptr && size > 0) return -1;
  return pihost::CallBytes::instance().set_result(size > 0 ? data : "", size);
}

extern "C" size_t isolator_result_limit(void) { return pihost::CallBytes::instance().max_result_bytes(); }
