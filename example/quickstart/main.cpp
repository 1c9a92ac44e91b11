// The README's host example, built and run by ctest so that it cannot rot.
// Usage: quickstart /absolute/path/to/plugin.so [arguments...]
#include <isolator/isolator.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: quickstart /absolute/path/to/plugin.so [arguments...]\n";
    return 2;
  }
  auto isolator = isolator::ProcessIsolator::create();  // starts pihost, waits for its hello

  std::vector<std::string> args(argv + 2, argv + argc);
  isolator::CallResult r = isolator->invoke(argv[1], "method", args);

  for (const auto& line : r.output) std::cout << "plugin said: " << line.text << '\n';
  if (r.ok()) {
    std::cout << "method returned " << *r.code << " in " << r.usage.wall.count() << " us\n";
    return 0;
  }
  std::cout << "call failed (" << isolator::to_string(r.failure->kind) << "): " << r.failure->message << '\n';
  return 1;
}
