// C++ values to and from a call's bytes, as msgpack: Invocation::input built from a value,
// CallResult::bytes read as one. Optional: this header alone needs msgpack-cxx (4.1 or
// later; Debian's libmsgpack-cxx-dev), and it is the only isolator header that does. Any type
// msgpack-c has an adaptor for works (numbers, strings, std containers, std::optional,
// std::tuple, a struct with MSGPACK_DEFINE...), and msgpack::object_handle for a value whose
// type is not known in advance.
//
// The bytes come from the plugin, which the host does not trust: reading them is bounded
// (nesting depth; and the arrays and maps of a value may not claim more elements in all than
// it has bytes, checked before anything is built, so what reading allocates stays within a
// small multiple of the bytes), and anything that is not exactly one msgpack value of the
// asked type is an Error naming what was wrong. T must own its data: the value read is gone
// when from_bytes() returns, so std::string_view, msgpack::object and msgpack's *_ref types,
// or containers and structs holding them, would dangle (the first two do not compile).
#pragma once

#include <isolator/errors.hpp>

#include <msgpack.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace isolator {

/// How deep from_bytes() and unpack_bytes() let arrays and maps nest by default.
inline constexpr std::size_t default_max_value_depth = 64;

namespace values_detail {

/// Adds up what a value's array and map headers claim, building nothing. Every element takes
/// at least one byte, so headers claiming more elements in all than the value has bytes
/// belong to a value cut short, or to a hostile one: msgpack::unpack would allocate room for
/// each claim as it meets it (64 nested map headers of 6 bytes each, claiming 1 M pairs, ask
/// for gigabytes), so such bytes are refused first.
struct ClaimCheck : msgpack::null_visitor {
  /// Checks a value of `bytes` bytes.
  explicit ClaimCheck(std::size_t bytes) : budget(bytes) {}
  /// An array header claiming `elements`; false (stop) past the budget.
  bool start_array(std::uint32_t elements) { return claim(elements); }
  /// A map header claiming `pairs` (two elements each); false (stop) past the budget.
  bool start_map(std::uint32_t pairs) { return claim(std::size_t{pairs} * 2); }
  /// Adds `elements` to what is claimed; false, and `over` set, past the budget.
  bool claim(std::size_t elements) {
    if (elements > budget - claimed) {
      over = true;
      return false;
    }
    claimed += elements;
    return true;
  }
  std::size_t budget;       ///< the value's bytes: the most elements it can hold
  std::size_t claimed = 0;  ///< elements claimed so far
  bool over = false;        ///< the claims passed the budget
};

}  // namespace values_detail

/// `value` packed as one msgpack value, for Invocation::input (or a plugin's result bytes).
/// Throws what msgpack's adaptor for T throws (std::bad_alloc at least).
template <class T>
std::string to_bytes(const T& value) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, value);
  return std::string(buffer.data(), buffer.size());
}

/// `bytes` as exactly one msgpack value, nested at most `max_depth` deep. Throws Error when
/// they are empty, end inside the value, hold bytes after it, are malformed, or nest deeper.
/// The handle owns what the value points to; `bytes` may go away.
inline msgpack::object_handle unpack_bytes(std::string_view bytes,
                                           std::size_t max_depth = default_max_value_depth) {
  if (bytes.empty()) throw Error("no bytes to read a msgpack value from");
  values_detail::ClaimCheck claims(bytes.size());
  std::size_t checked = 0;
  if (!msgpack::parse(bytes.data(), bytes.size(), checked, claims) && claims.over) {
    throw Error("the msgpack value's arrays and maps claim more elements than its " + std::to_string(bytes.size()) +
                " bytes can hold (they end inside it)");
  }
  // No count or length can be larger than the bytes: each element takes at least one.
  const msgpack::unpack_limit limit(bytes.size(), bytes.size(), bytes.size(), bytes.size(), bytes.size(),
                                    max_depth);
  std::size_t offset = 0;
  msgpack::object_handle handle;
  try {
    handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
  } catch (const msgpack::insufficient_bytes&) {
    throw Error("the " + std::to_string(bytes.size()) + " bytes end inside a msgpack value");
  } catch (const msgpack::depth_size_overflow&) {
    throw Error("the msgpack value nests deeper than " + std::to_string(max_depth));
  } catch (const msgpack::size_overflow&) {
    throw Error("the msgpack value claims more elements or bytes than the " + std::to_string(bytes.size()) +
                " bytes hold (they end inside it)");
  } catch (const msgpack::unpack_error& e) {
    throw Error(std::string("the bytes are not a msgpack value: ") + e.what());
  }
  if (offset != bytes.size()) {
    throw Error("the bytes hold " + std::to_string(bytes.size() - offset) +
                " more bytes after one msgpack value of " + std::to_string(offset));
  }
  return handle;
}

/// `bytes` (one msgpack value, as unpack_bytes() reads it) converted to T. Throws Error when
/// unpack_bytes() does, or when the value is not a T (a map where T is an int, say).
template <class T>
T from_bytes(std::string_view bytes, std::size_t max_depth = default_max_value_depth) {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, msgpack::object> &&
                    !std::is_same_v<std::remove_cv_t<T>, std::string_view>,
                "T would point into memory freed when from_bytes returns: use unpack_bytes() and keep "
                "its handle, or read an owning type (std::string)");
  const msgpack::object_handle handle = unpack_bytes(bytes, max_depth);
  try {
    return handle.get().as<T>();
  } catch (const msgpack::type_error&) {
    throw Error("the msgpack value does not convert to the type asked for (msgpack::type_error)");
  }
}

}  // namespace isolator
