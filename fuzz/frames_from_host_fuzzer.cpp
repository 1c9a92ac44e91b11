// pihost's side: bytes the host (or whatever connected in its place) writes on the channel.
#include "frames_fuzzer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  isolator::fuzz::receive(data, size, isolator::wire::Sender::host, 1 << 16);
  return 0;
}
