// Uses the child's data store through isolator/plugin.hpp.
// `data_read KEY`: prints the value (or "(none)"), returns its size or -1.
// `data_write KEY VALUE`: stores VALUE under KEY, returns 0.
// `data_write_huge KEY MIB`: stores MIB MiB of 'x' under KEY, returns 0.
#include <isolator/plugin.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

ISOLATOR_PLUGIN_EXPORT int data_read(int argc, char** argv) {
  if (argc < 2) return -2;
  const auto value = isolator::plugin::get_data(argv[1]);
  std::printf("%s\n", value ? value->c_str() : "(none)");
  return value ? static_cast<int>(value->size()) : -1;
}

ISOLATOR_PLUGIN_EXPORT int data_write(int argc, char** argv) {
  if (argc < 3) return -2;
  return isolator::plugin::set_data(argv[1], argv[2]) ? 0 : -1;
}

ISOLATOR_PLUGIN_EXPORT int data_write_huge(int argc, char** argv) {
  if (argc < 3) return -2;
  const std::string value(static_cast<std::size_t>(std::atoi(argv[2])) << 20, 'x');
  return isolator::plugin::set_data(argv[1], value) ? 0 : -1;
}
