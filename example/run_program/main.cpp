// The README's program example, built and run by ctest so that it cannot rot.
// Usage: run_program PROGRAM [arguments...]   (its stdin: this one's first line)
#include <isolator/isolator.hpp>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: run_program PROGRAM [arguments...]\n";
    return 2;
  }
  auto isolator = isolator::ProcessIsolator::create();

  isolator::Command command;
  command.argv.assign(argv + 1, argv + argc);            // found in PATH, or an absolute path
  std::getline(std::cin, command.input);                // its stdin
  command.options.timeout = std::chrono::seconds(10);   // killed, with all it started, after
  isolator::CallResult r = isolator->run(command);

  for (const auto& line : r.output) std::cout << "program said: " << line.text << '\n';
  if (r.ok()) {
    std::cout << "program exited with " << *r.code << '\n';
    return 0;
  }
  std::cout << "program failed (" << isolator::to_string(r.failure->kind) << "): " << r.failure->message << '\n';
  return 1;
}
