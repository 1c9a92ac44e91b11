// samplelib: the sample plugin. It links nothing from isolator and acts on its arguments,
// like the model project's SampleClass:
//
//   crash      dereferences a null pointer (SIGSEGV)
//   crash-everyN  crashes the same way on every Nth call this child runs (a bad input now
//              and then: the supervisor replaces the child, the other calls go on)
//   throw      throws std::runtime_error
//   exitN      calls exit(N)
//   sleepN     sleeps N milliseconds
//   returnN    makes the method return N (default 0)
//   anything else is just printed
//
// Every argument is printed to stdout first, one line each.
#include <isolator/plugin.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

// Calls this child (this process) has run, for crash-everyN.
int calls_run = 0;

// The number after `prefix` in `arg`, or -1 when `arg` is not prefix+digits.
long number_after(const std::string& arg, const std::string& prefix) {
  if (arg.size() <= prefix.size() || arg.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = arg.substr(prefix.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::strtol(digits.c_str(), nullptr, 10);
}

}  // namespace

ISOLATOR_PLUGIN_EXPORT int method(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) std::printf("samplelib: argv[%d] = %s\n", i, argv[i]);
  ++calls_run;
  int code = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "crash") {
      volatile int* nowhere = nullptr;
      *nowhere = 1;
    } else if (long every = number_after(arg, "crash-every"); every > 0) {
      if (calls_run % every == 0) {
        volatile int* nowhere = nullptr;
        *nowhere = 1;
      }
    } else if (arg == "throw") {
      throw std::runtime_error("samplelib was asked to throw");
    } else if (long n = number_after(arg, "exit"); n >= 0) {
      std::exit(static_cast<int>(n));
    } else if (long ms = number_after(arg, "sleep"); ms >= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    } else if (long value = number_after(arg, "return"); value >= 0) {
      code = static_cast<int>(value);
    }
  }
  return code;
}
