// The README's second plugin example, built with libgreeting.so beside it and called through
// samplehost by ctest so that it cannot rot.
#include "greeting.hpp"  // libgreeting.so, beside this plugin; no RUNPATH needed

#include <isolator/plugin.hpp>

#include <msgpack.hpp>

#include <string>

// Answers {"greeting": "hello, NAME", "logged": true|false} as msgpack, NAME being argv[1],
// after asking the host's "log" service to note the greeting.
ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  const std::string greeting = greeting_for(argc > 1 ? argv[1] : "world");
  const auto logged = isolator::plugin::call_host("log", "greeting " + greeting);
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> out(buffer);
  out.pack_map(2);
  out.pack("greeting");
  out.pack(greeting);
  out.pack("logged");
  out.pack(logged.ok());
  return isolator::plugin::set_result({buffer.data(), buffer.size()}) ? 0 : 1;
}
