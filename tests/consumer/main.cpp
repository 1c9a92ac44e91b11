// The consumer: calls its plugin through the installed isolator (which finds the installed
// pihost by itself) and checks the answer.
#include <isolator/isolator.hpp>

#include <iostream>

int main() {
  auto isolator = isolator::ProcessIsolator::create();
  const auto r = isolator->invoke(GREETER, "method", {"consumer"});
  if (!r.ok()) {
    std::cerr << "call failed: " << r.failure->message << '\n';
    return 1;
  }
  const bool greeted = !r.output.empty() && r.output[0].text == "hello, consumer";
  std::cout << "consumer: code " << *r.code << ", output \"" << (r.output.empty() ? "" : r.output[0].text)
            << "\"\n";
  if (*r.code != 8 || !greeted) return 1;
  std::cout << "consumer: ok\n";
  return 0;
}
