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
  // The input stays until the next begin(): a plugin thread that read isolator_input() during
  // the call and still uses the pointer after it returned reads the old bytes, not freed memory.
  return std::exchange(result_, {});
}

const std::string* CallBytes::input() const {
  std::lock_guard lock(mutex_);
  return running_ ? &input_ : nullptr;
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
    result_.bytes.emplace(static_cast<const char*>(data), size);
  } catch (const std::bad_alloc&) {
    result_.bytes.reset();
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
  const std::string* input = pihost::CallBytes::instance().input();
  if (size != nullptr) *size = input ? input->size() : 0;
  return input ? input->data() : nullptr;
}

extern "C" int isolator_result_set(const void* data, size_t size) {
  if (data == nullptr && size > 0) return -1;
  return pihost::CallBytes::instance().set_result(size > 0 ? data : "", size);
}

extern "C" size_t isolator_result_limit(void) { return pihost::CallBytes::instance().max_result_bytes(); }
