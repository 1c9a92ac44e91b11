// What both fuzzers check, for the bytes one side receives from the other: the frame reader
// and decoder never crash, hang or allocate without bound; whatever decodes re-encodes to the
// same message; and a message from the wrong side is recognised as such (each side then
// treats it as a protocol error). The bytes are fed in pieces whose sizes come from the
// input, as a socket would deliver them.
#pragma once

#include <isolator/wire/codec.hpp>
#include <isolator/wire/frame_reader.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace isolator::fuzz {

inline void receive(const std::uint8_t* data, std::size_t size, wire::Sender expected_sender,
                    std::size_t max_frame_bytes) {
  if (size == 0) return;
  const std::size_t piece = 1 + data[0] % 64;  // 1..64 bytes per read
  ++data;
  --size;
  wire::FrameReader reader(max_frame_bytes);
  try {
    for (std::size_t at = 0; at < size; at += piece) {
      const std::size_t n = at + piece <= size ? piece : size - at;
      reader.feed(reinterpret_cast<const char*>(data + at), n);
      while (auto body = reader.next()) {
        wire::Message message;
        try {
          message = wire::decode(*body);
        } catch (const wire::ProtocolError&) {
          return;  // the receiver drops the peer here
        }
        // A message that decodes is one the receiver can act on: it must mean exactly what
        // it says, so encoding it gives the same message back.
        if (!(wire::decode(wire::encode(message)) == message)) std::abort();
        (void)wire::message_name(message);
        if (wire::sender_of(message) != expected_sender) return;  // rejected by the receiver
      }
    }
  } catch (const wire::ProtocolError&) {
    return;
  }
}

}  // namespace isolator::fuzz
