#include "data_store.hpp"

#include <isolator/plugin.hpp>

#include <cstring>
#include <new>

namespace pihost {

DataStore& DataStore::instance() {
  // Never destroyed: a plugin that calls exit() runs static destructors while its other
  // threads may still be using the store.
  static auto* store = new DataStore;
  return *store;
}

void DataStore::set(const std::string& key, std::string value) {
  std::lock_guard lock(mutex_);
  values_[key] = std::move(value);
}

std::optional<std::string> DataStore::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  if (auto it = values_.find(key); it != values_.end()) return it->second;
  return std::nullopt;
}

}  // namespace pihost

extern "C" int isolator_data_get(const char* key, void* buffer, size_t capacity, size_t* size) {
  if (key == nullptr || size == nullptr || (buffer == nullptr && capacity > 0)) return -1;
  try {
    auto value = pihost::DataStore::instance().get(key);
    if (!value) return 0;
    *size = value->size();
    if (capacity > 0) std::memcpy(buffer, value->data(), std::min(capacity, value->size()));
    return 1;
  } catch (const std::bad_alloc&) {
    return -1;
  }
}

extern "C" int isolator_data_set(const char* key, const void* data, size_t size) {
  if (key == nullptr || (data == nullptr && size > 0)) return -1;
  try {
    pihost::DataStore::instance().set(key, std::string(static_cast<const char*>(data), size));
    return 0;
  } catch (const std::bad_alloc&) {
    return -1;
  }
}
