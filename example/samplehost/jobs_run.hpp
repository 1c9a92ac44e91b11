// samplehost --jobs: every call of --repeat started as a job (isolator/jobs.hpp) on the
// isolator or the pool, the jobs listed, those --kill-job names killed, then each waited for
// and its result reported under its job id.
#pragma once

#include "reporter.hpp"

#include <isolator/isolator.hpp>

#include <functional>
#include <vector>

namespace samplehost {

/// Spawns `count` jobs with `spawn` (which throws isolator::Error for a call that cannot be
/// made), reports the job list, kills the jobs `kill` names (an id that is not a job is
/// reported as an error), reports the list again when any was killed, then waits for each
/// job in id order and reports its result. Returns true when every job's call returned and
/// every id in `kill` named a job. `jobs` must keep at least `count` finished jobs.
/// Throws what `spawn` throws.
bool run_jobs(isolator::Jobs& jobs, int count, const std::function<isolator::JobId(isolator::Jobs&)>& spawn,
              const std::vector<isolator::JobId>& kill, Reporter& reporter);

}  // namespace samplehost
