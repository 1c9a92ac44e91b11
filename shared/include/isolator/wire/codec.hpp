// Encoding and decoding of the messages in protocol.hpp.
//
// Decoding is strict, because its input comes from the other process: the body must be one
// msgpack array, of a known type, with exactly that type's arity and field types, and no
// trailing bytes; every msgpack size is bounded (protocol.hpp) before anything is allocated.
// Every violation throws ProtocolError with a message naming the message, the field and the
// problem; nothing is ever silently defaulted.
#pragma once

#include <isolator/wire/protocol.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace isolator::wire {

/// The peer broke the protocol. The connection it came from must be dropped.
class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The msgpack body of `message`, without the length prefix.
std::string encode(const Message& message);

/// `message` as a complete frame: 4-byte big-endian length, then the body.
std::string encode_frame(const Message& message);

/// encode_frame(Invoke{id, library, symbol, args, search_path, input}).size(), worked out
/// without building the frame or copying the arguments (to refuse a call that cannot be sent
/// before queueing it).
std::size_t invoke_frame_bytes(std::uint64_t id, const std::string& library, const std::string& symbol,
                               const std::vector<std::string>& args, const std::vector<std::string>& search_path,
                               const std::string& input);

/// The bytes a Result frame takes besides its result bytes, at most: its header, id, code and
/// usage, and the bin header (so a Result with N result bytes is never larger than
/// N + result_frame_overhead).
inline constexpr std::size_t result_frame_overhead = 128;

/// Parses one frame body. Throws ProtocolError on anything but exactly one well-formed
/// message. Thread-safe (no shared state).
Message decode(std::string_view body);

/// The message's type name as used in protocol.hpp ("Hello", "Invoke", ...).
std::string_view message_name(const Message& message);

/// Which side may send a message (docs/protocol.md): pihost sends Hello, Result, Failed,
/// DataValue, Started and Pong; the host sends the rest. A message from the wrong side is a
/// protocol error on either end.
enum class Sender { host, child };
Sender sender_of(const Message& message);

}  // namespace isolator::wire
