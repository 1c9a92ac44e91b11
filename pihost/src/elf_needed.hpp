// Reads the names of the libraries a shared object needs (its DT_NEEDED entries) from the
// file, without loading it: the dependency walk (dependency_links.hpp) must know them before
// dlopen runs, since dlopen looks for them only in the loader's own places.
//
// The file is the plugin's, so as untrusted as the plugin; pihost runs the plugin's code
// anyway, so reading it here adds no exposure, but the reader stays bounded: it reads with
// pread at offsets it checks against the file's size, never maps the file, and gives up (an
// empty list, leaving dlopen to say what is wrong) at anything it does not understand.
#pragma once

#include <string>
#include <vector>

namespace pihost {

/// The DT_NEEDED names of the ELF shared object at `path`, in the order the file lists them
/// (at most 1,024). Empty when it needs none, or when the file cannot be opened or is not an
/// ELF file of this machine's byte order (32- and 64-bit are both read).
std::vector<std::string> needed_libraries(const std::string& path);

}  // namespace pihost
