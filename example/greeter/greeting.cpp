// libgreeting.so: a library of the example plugin's own, which it finds beside itself.
#include "greeting.hpp"

std::string greeting_for(const std::string& name) { return "hello, " + name; }
