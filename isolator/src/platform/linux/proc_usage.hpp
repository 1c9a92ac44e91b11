// Reads a process's CPU time and memory from /proc: the Linux side of the seam's
// read_process_usage() (declared, with its contract, in platform/child_process.hpp).
#pragma once

#include "platform/child_process.hpp"
