// The README's second plugin example, built with libgreeting.so beside it and called through
// samplehost by ctest so that it cannot rot.
#include "greeting.hpp"  // libgreeting.so, beside this plugin; no RUNPATH needed

#include <isolator/plugin.hpp>

#include <msgpack.hpp>

#include <string>

// Answers {"greeting": "hello, NAME", "arguments": N} as msgpack, NAME being argv[1].
ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  const std::string name = argc > 1 ? argv[1] : "world";
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> out(buffer);
  out.pack_map(2);
  out.pack("greeting");
  out.pack(greeting_for(name));
  out.pack("arguments");
  out.pack(argc - 1);
  return isolator::plugin::set_result({buffer.data(), buffer.size()}) ? 0 : 1;
}
