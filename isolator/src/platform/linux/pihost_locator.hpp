// Finds the pihost executable.
#pragma once

#include <filesystem>

namespace isolator::detail {

/// The first executable of: `configured` (when not empty), $ISOLATOR_PIHOST, `pihost` next to
/// the running executable, the pihost of the build tree this library was built in. Throws
/// StartError listing every place tried and why each was refused.
std::filesystem::path locate_pihost(const std::filesystem::path& configured);

}  // namespace isolator::detail
