// Finds the pihost executable.
#pragma once

#include <filesystem>

namespace isolator::detail {

/// The pihost to run. An explicit choice is the only candidate: `configured` when not empty,
/// else $ISOLATOR_PIHOST when set and not empty (an empty one counts as unset); if it is
/// missing, a directory or not executable, this throws StartError naming where the choice
/// came from (the option or the variable), the path, what is wrong with it and the fix,
/// rather than silently running another pihost. Without an explicit choice: the first
/// executable of the pihost installed with the library, `pihost` next to the running
/// executable, the install prefix's and the build tree's; when none is, StartError lists
/// every place tried and why each was refused.
std::filesystem::path locate_pihost(const std::filesystem::path& configured);

}  // namespace isolator::detail
