// Jobs: calls and programs started on an isolator or a pool and come back to by id, as a
// sandboxed shell's background jobs are: listed, inspected, killed and waited for.
//
//   isolator::Jobs jobs(*pool);
//   isolator::JobId id = jobs.spawn(isolator::Command{{"make", "-j2"}});
//   ...
//   if (auto s = jobs.status(id); s && s->state == isolator::JobState::running) jobs.kill(id);
//   isolator::CallResult r = jobs.wait(id);  // `cancelled` after a kill
//
// A job is an ordinary call (async_invoke or async_run) with its cancellation slot and its
// CallOptions::on_start hook held by the Jobs object: everything a call does (queueing,
// deadlines, retries, output, the child replaced after a kill) holds for it unchanged.
//
// Threads: every member function may be called from any thread, concurrently, except that
// wait() must not be called where it would wait for itself: in a completion handler or
// callback of the isolator or pool that runs the job, or in an async_wait() completion that
// runs on the jobs' own strand (the default; wait() throws Error there). Completions of
// async_wait() run on the handler's associated executor, by default on that strand, a strand
// of Asio's system executor. A job is known to status(), list(), kill() and wait() once
// spawn() has returned its id.
//
// Lifetime: a Jobs object must not outlive the isolator or pool it was made with. Destroying
// it cancels every job not finished (their results are dropped) and does not wait.
#pragma once

#include <isolator/call_result.hpp>
#include <isolator/isolator_pool.hpp>
#include <isolator/process_isolator.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace isolator {

/// A job's id, unique within one Jobs object (from 1, in the order of spawn()).
using JobId = std::uint64_t;

/// Where a job is.
enum class JobState {
  queued,    ///< accepted, waiting for a child
  running,   ///< sent to a child (JobStatus::pid)
  finished,  ///< done: JobStatus::result holds its CallResult (`cancelled` after a kill)
};

/// "queued", "running", "finished"; "unknown" for a value outside the enum. Any thread.
std::string_view to_string(JobState state);

/// A snapshot of one job.
struct JobStatus {
  /// The job's id.
  JobId id = 0;
  /// Where it is now.
  JobState state = JobState::queued;
  /// What it runs, as failure messages name it: "'method' of /path/libplugin.so", or
  /// "program 'sort'".
  std::string what;
  /// The pid of the child that runs it (or ran it last: a retry runs it again elsewhere); 0
  /// while it is queued, and for a job that finished without running (refused, killed while
  /// queued).
  int pid = 0;
  /// When spawn() accepted it.
  std::chrono::system_clock::time_point queued_at{};
  /// When it was (last) sent to a child; none while queued.
  std::optional<std::chrono::system_clock::time_point> started_at;
  /// When its result arrived; none until it finished.
  std::optional<std::chrono::system_clock::time_point> ended_at;
  /// Its result, once finished.
  std::optional<CallResult> result;
};

/// How long finished jobs are kept for status(), list() and wait().
struct JobsOptions {
  /// The most finished jobs kept; past it, the oldest finished are forgotten. At least 1.
  std::size_t max_finished = 1000;
  /// A finished job is forgotten this long after it ended.
  std::chrono::seconds keep_finished_for{600};
};

/// Jobs over one ProcessIsolator or IsolatorPool; see the file comment. Thread-safe.
class Jobs {
 public:
  /// The type-erased completion handler async_wait stores.
  using WaitHandler = boost::asio::any_completion_handler<void(CallResult)>;

  /// Jobs run on `isolator` (one at a time, in order) or `pool` (as its children take them).
  /// Throws OptionsError for a max_finished of 0.
  explicit Jobs(ProcessIsolator& isolator, JobsOptions options = {});
  /// The same over a pool.
  explicit Jobs(IsolatorPool& pool, JobsOptions options = {});
  /// Cancels every job not finished; does not wait for them.
  ~Jobs();
  Jobs(const Jobs&) = delete;
  Jobs& operator=(const Jobs&) = delete;

  /// Starts a method's call (its CallOptions::on_start is still called) or a program as a
  /// job and returns its id at once. Throws what async_invoke() or async_run() throws for a
  /// call that cannot be made (nothing is then kept).
  JobId spawn(Invocation invocation);
  /// The same for a program (ProcessIsolator::run).
  JobId spawn(Command command);

  /// The job's state now; none for an id never spawned here, or forgotten (JobsOptions).
  std::optional<JobStatus> status(JobId id) const;
  /// Every job kept, oldest first.
  std::vector<JobStatus> list() const;

  /// Cancels the job: a queued one is dropped, a running one's child is killed and replaced;
  /// it finishes with `cancelled` (unless its result was on its way). Returns false when the
  /// job is finished already or unknown. Returns at once.
  bool kill(JobId id);

  /// Blocks until the job finishes and returns its result (a copy: any number of threads may
  /// wait for one job). Throws Error for an unknown or forgotten id, and when called in an
  /// async_wait() completion on the jobs' own strand (see the file comment).
  CallResult wait(JobId id);

  /// As wait(), completing `token` (any Asio completion token) with the result. Throws Error
  /// for an unknown or forgotten id.
  template <class CompletionToken>
  auto async_wait(JobId id, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(CallResult)>(
        [this](auto handler, JobId job) { start_wait(job, WaitHandler(std::move(handler))); }, token, id);
  }

  /// The table itself, shared with the jobs' handlers (defined in jobs.cpp).
  struct State;

 private:
  void start_wait(JobId id, WaitHandler handler);

  std::shared_ptr<State> state_;
};

}  // namespace isolator
