#include "call_check.hpp"

#include <isolator/errors.hpp>
#include <isolator/wire/codec.hpp>

#include <limits>
#include <string>

namespace isolator::detail {

void check_sendable(const Invocation& invocation, std::size_t max_frame_bytes) {
  if (invocation.args.size() > wire::max_args) {
    throw Error("a call takes at most " + std::to_string(wire::max_args) + " arguments; this one has " +
                std::to_string(invocation.args.size()));
  }
  // The largest id: the check holds whatever id the call gets.
  const std::size_t body = wire::invoke_frame_bytes(std::numeric_limits<std::uint64_t>::max(),
                                                    invocation.library, invocation.symbol, invocation.args) -
                           wire::frame_header_bytes;
  if (body > max_frame_bytes) {
    throw Error("the call's library path, symbol and arguments make a message of " + std::to_string(body) +
                " bytes, more than Options::max_frame_bytes (" + std::to_string(max_frame_bytes) + ")");
  }
}

}  // namespace isolator::detail
