// `isolatorctl kill ID`: SIGKILL to one isolate's child, only once the kernel has confirmed
// that the pid the record names is still that child. The record may be stale (the child was
// replaced, its pid reused) or forged, so the check is made on a pidfd: opened first, then
// the process behind the pid is checked (its start time as recorded, its parent the recorded
// host, itself running with its recorded start time), then the signal goes through the pidfd,
// which names that one process whatever happens to the pid meanwhile.
#pragma once

#include "record.hpp"

#include <string>

namespace isolatorctl {

/// Kills the child `record` names. Returns "" when the signal was sent, else why it was not,
/// with what to do. Never throws.
std::string kill_child(const Record& record);

}  // namespace isolatorctl
