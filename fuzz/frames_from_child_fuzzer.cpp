// The host's side: bytes a (possibly hostile) pihost writes on the channel.
#include "frames_fuzzer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A small maximum, so that the fuzzer explores the limit instead of waiting on huge frames.
  isolator::fuzz::receive(data, size, isolator::wire::Sender::child, 1 << 16);
  return 0;
}
