// Running out of file descriptors while a child starts, on Linux: the test, and the one way
// such a start fails (the hint itself is the seam's out_of_descriptors_hint).
#pragma once

#include "platform/child_process.hpp"

#include <string>

namespace isolator::detail {

/// True for EMFILE (this process's RLIMIT_NOFILE) and ENFILE (the system's file table).
bool out_of_descriptors(int error);

/// Throws StartError("cannot <what>: <errno text>; <hint>") when out_of_descriptors(error),
/// else returns. For the places that otherwise tolerate a file they cannot open or read (a
/// statistics file of a controller that may be off, a swap limit the kernel may not account,
/// the cgroup hierarchies): running out of descriptors must fail the start, never silently
/// weaken the box or the choice of backend.
void throw_if_out_of_descriptors(int error, const std::string& what);

}  // namespace isolator::detail
