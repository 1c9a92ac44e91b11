// How samplehost shows a call's result bytes (CallResult::bytes): as base64 and hex, and, when
// they hold one msgpack value, as that value in JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace samplehost {

/// Standard base64 (RFC 4648, with padding).
std::string base64(std::string_view bytes);

/// Lower-case hex, two digits a byte, at most `max_bytes` of them; when there are more,
/// "... (N bytes)" follows.
std::string hex(std::string_view bytes, std::size_t max_bytes);

/// `bytes` as JSON when they are exactly one msgpack value that JSON can show (map keys are
/// strings), nested at most 64 deep, with at most 4,096 map keys in all; nothing otherwise. The bytes come from the plugin: a
/// hostile nesting or a header claiming more than the bytes hold is refused, not followed.
std::optional<nlohmann::ordered_json> msgpack_value(std::string_view bytes);

}  // namespace samplehost
