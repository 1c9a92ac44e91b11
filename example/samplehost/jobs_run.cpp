#include "jobs_run.hpp"

#include <string>

namespace samplehost {

bool run_jobs(isolator::Jobs& jobs, int count, const std::function<isolator::JobId(isolator::Jobs&)>& spawn,
              const std::vector<isolator::JobId>& kill, Reporter& reporter) {
  std::vector<isolator::JobId> ids;
  for (int job = 0; job < count; ++job) ids.push_back(spawn(jobs));
  reporter.jobs(jobs.list());
  bool all_returned = true;
  if (!kill.empty()) {
    for (const auto id : kill) {
      if (!jobs.status(id)) {
        reporter.error("--kill-job " + std::to_string(id) + ": no such job (the jobs are 1.." +
                       std::to_string(count) + ")");
        all_returned = false;
      } else if (!jobs.kill(id)) {
        reporter.error("--kill-job " + std::to_string(id) + ": the job had finished already");
      }
    }
    reporter.jobs(jobs.list());
  }
  for (const auto id : ids) {
    const auto result = jobs.wait(id);
    reporter.result(static_cast<int>(id), result);
    all_returned = all_returned && result.ok();
  }
  return all_returned;
}

}  // namespace samplehost
