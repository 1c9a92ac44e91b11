// libgreeting.so: a library of the example plugin's own, which it finds beside itself.
#pragma once

#include <string>

/// "hello, NAME".
__attribute__((visibility("default"))) std::string greeting_for(const std::string& name);
