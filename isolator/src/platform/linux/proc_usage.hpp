// Reads a process's CPU time and memory from /proc.
#pragma once

#include <isolator/process_isolator.hpp>

namespace isolator::detail {

/// The usage of process `pid` now; all zero when it cannot be read (the process is gone).
ResourceUsage read_process_usage(int pid);

}  // namespace isolator::detail
