// The values kept in the child for the host (SetData/GetData) and for plugin code
// (isolator_data_get/isolator_data_set, declared in isolator/plugin.hpp, defined here and
// exported from the pihost executable).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace pihost {

/// A thread-safe map of byte strings. One per process (plugins reach it through C symbols).
class DataStore {
 public:
  static DataStore& instance();

  void set(const std::string& key, std::string value);
  std::optional<std::string> get(const std::string& key) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> values_;
};

}  // namespace pihost
