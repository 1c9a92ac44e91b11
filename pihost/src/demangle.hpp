// C++ names as a person reads them, for the exception types and crashed frames pihost reports.
#pragma once

#include <cxxabi.h>

#include <cstdlib>
#include <string>

namespace pihost {

/// `mangled` demangled ("_ZN7crashes5levelEv" -> "crashes::level()"); `mangled` itself when
/// it is no C++ name (a C function's, or an unknown type's). Allocates: never in a signal
/// handler.
inline std::string demangled(const char* mangled) {
  int status = 0;
  char* text = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && text != nullptr ? text : mangled;
  std::free(text);
  return name;
}

}  // namespace pihost
