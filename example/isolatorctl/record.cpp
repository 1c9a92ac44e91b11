#include "record.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <limits>

namespace isolatorctl {

namespace {

using json = nlohmann::json;

struct Invalid {
  std::string why;
};

const json& member(const json& object, const char* name) {
  const auto found = object.find(name);
  if (found == object.end()) throw Invalid{"no \"" + std::string(name) + "\""};
  return *found;
}

// Every integer of a record is non-negative (the JSON parser reads those as unsigned).
template <typename T>
T integer(const json& object, const char* name, std::uint64_t low,
          std::uint64_t high = static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
  const json& value = member(object, name);
  if (!value.is_number_unsigned()) throw Invalid{"\"" + std::string(name) + "\" is not a non-negative integer"};
  const auto n = value.get<std::uint64_t>();
  if (n < low || n > high) throw Invalid{"\"" + std::string(name) + "\" is out of range"};
  return static_cast<T>(n);
}

template <typename T>
std::optional<T> optional_integer(const json& object, const char* name, std::uint64_t low) {
  if (member(object, name).is_null()) return std::nullopt;
  return integer<T>(object, name, low);
}

// A name shown to an operator: a string without control characters (a forged record must
// not be able to move the terminal's cursor or fake a line of the table).
std::string text(const json& object, const char* name, bool may_be_empty = false) {
  const json& value = member(object, name);
  if (!value.is_string()) throw Invalid{"\"" + std::string(name) + "\" is not a string"};
  auto s = value.get<std::string>();
  if (s.empty() && !may_be_empty) throw Invalid{"\"" + std::string(name) + "\" is empty"};
  if (s.size() > 4096) throw Invalid{"\"" + std::string(name) + "\" is longer than 4096 bytes"};
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      throw Invalid{"\"" + std::string(name) + "\" holds a control character"};
    }
  }
  return s;
}

const json& object_member(const json& object, const char* name) {
  const json& value = member(object, name);
  if (!value.is_object()) throw Invalid{"\"" + std::string(name) + "\" is not an object"};
  return value;
}

}  // namespace

Parsed parse_record(std::string_view text_of_file, std::string_view id, std::uint32_t uid) {
  try {
    const json root = json::parse(text_of_file);  // throws on bad JSON, and on bytes that are not UTF-8
    if (!root.is_object()) throw Invalid{"it is not a JSON object"};
    const int format = integer<int>(root, "format", 0);
    if (format != record_format) {
      throw Invalid{"its format is " + std::to_string(format) + ", this isolatorctl reads format " +
                    std::to_string(record_format) + " (use the isolatorctl of the library the host runs)"};
    }
    Record r;
    r.id = text(root, "id");
    if (r.id != id) throw Invalid{"its id \"" + r.id + "\" is not its file name"};
    r.kind = text(root, "kind");
    if (r.kind != "isolator" && r.kind != "pool") throw Invalid{"\"kind\" is neither \"isolator\" nor \"pool\""};
    r.uid = integer<std::uint32_t>(root, "uid", 0);
    if (r.uid != uid) throw Invalid{"it claims uid " + std::to_string(r.uid) + ", but lies in the directory of uid " + std::to_string(uid)};
    const json& host = object_member(root, "host");
    r.host_pid = integer<int>(host, "pid", 1);
    r.host_start_time = integer<std::uint64_t>(host, "start_time", 1);
    r.host_executable = text(host, "executable", true);
    // The file name is what a sweep trusts; the content must say the same.
    int named_pid = 0;
    unsigned long long named_start = 0;
    unsigned long long slot = 0;
    char end = 0;
    if (std::sscanf(r.id.c_str(), "isolator-%d-%llu-%llu%c", &named_pid, &named_start, &slot, &end) != 3 ||
        named_pid != r.host_pid || named_start != r.host_start_time) {
      throw Invalid{"its id \"" + r.id + "\" does not name its host's pid and start time"};
    }
    r.containment = text(root, "containment");
    const json& limits = object_member(root, "limits");
    r.memory_bytes = optional_integer<std::uint64_t>(limits, "memory_bytes", 1);
    r.max_pids = optional_integer<std::uint32_t>(limits, "max_pids", 1);
    r.cpu_time_per_call_ms = optional_integer<std::int64_t>(limits, "cpu_time_per_call_ms", 1);
    const json& percent = member(limits, "cpu_percent");
    if (!percent.is_null()) {
      if (!percent.is_number() || !(percent.get<double>() > 0)) throw Invalid{"\"cpu_percent\" is not a positive number"};
      r.cpu_percent = percent.get<double>();
    }
    const json& affinity = member(limits, "cpu_affinity");
    if (!affinity.is_array()) throw Invalid{"\"cpu_affinity\" is not an array"};
    for (const json& cpu : affinity) {
      if (!cpu.is_number_unsigned() || cpu.get<std::uint64_t>() > 65535) {
        throw Invalid{"\"cpu_affinity\" holds something other than a CPU number"};
      }
      r.cpu_affinity.push_back(cpu.get<int>());
    }
    r.created_unix_ms = integer<std::int64_t>(root, "created_unix_ms", 0);
    const json& pihost = member(root, "pihost");
    if (!pihost.is_null()) {
      if (!pihost.is_object()) throw Invalid{"\"pihost\" is neither null nor an object"};
      r.pihost_pid = integer<int>(pihost, "pid", 1);
      r.pihost_start_time = integer<std::uint64_t>(pihost, "start_time", 1);
      r.pihost_started_unix_ms = integer<std::int64_t>(pihost, "started_unix_ms", 0);
    }
    return {std::move(r), {}};
  } catch (const Invalid& invalid) {
    return {std::nullopt, invalid.why};
  } catch (const std::exception& e) {
    return {std::nullopt, std::string("it is not valid JSON: ") + e.what()};
  }
}

}  // namespace isolatorctl
