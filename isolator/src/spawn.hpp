// Starts a process with posix_spawn: vfork semantics (no copy of the host's page tables, so
// a large host spawns as fast as a small one), a clean slate in the child, and its stdout
// and stderr on pipes.
//
// The child gets: stdin from /dev/null; stdout and stderr on fresh pipes; no other fd (all
// fds from 3 up are closed, whatever their close-on-exec flag); an empty signal mask and
// default dispositions for every signal; a new session (no controlling terminal); the given
// environment only; the given working directory.
#pragma once

#include "unique_fd.hpp"

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace isolator::detail {

struct SpawnRequest {
  std::filesystem::path executable;
  std::vector<std::string> args;         ///< argv[1..]; argv[0] is the executable's path
  std::vector<std::string> environment;  ///< "NAME=value" entries, the child's whole environment
  std::filesystem::path working_directory;
};

struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd pidfd;        ///< the child's pidfd (close-on-exec); it stays valid after it dies
  UniqueFd stdout_read;  ///< read end of the child's stdout (close-on-exec, blocking)
  UniqueFd stderr_read;  ///< read end of the child's stderr
};

/// Spawns the process. Throws StartError naming the executable and the errno text when the
/// pipes cannot be made or the exec fails (missing file, no permission, bad format...), or
/// when no pidfd can be had for the child (Linux 5.3 or later is required); in that case the
/// child has been killed and reaped.
SpawnedProcess spawn_process(const SpawnRequest& request);

}  // namespace isolator::detail
