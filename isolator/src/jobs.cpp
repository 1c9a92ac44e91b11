// Jobs (isolator/jobs.hpp): a table of calls in flight and finished, each an ordinary
// asynchronous call whose cancellation slot and start hook the table holds.
//
// Asio's cancellation slots are not thread-safe: the isolator installs a call's handler in
// its slot on the thread that makes the call, and clears it on the handler's executor as the
// call completes. So a job is known (to kill() and the rest) only once spawn() has made the
// call, every job's handler is bound to one strand of the table's, and kill() emits the
// cancellation on that strand too: emit, install and clear never race.
#include <isolator/jobs.hpp>

#include "completion.hpp"
#include "engine/failure_interpretation.hpp"

#include <isolator/errors.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_executor.hpp>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

namespace isolator {

namespace asio = boost::asio;
using Clock = std::chrono::system_clock;

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::queued: return "queued";
    case JobState::running: return "running";
    case JobState::finished: return "finished";
  }
  return "unknown";
}

struct Jobs::State {
  using Handler = ProcessIsolator::Handler;

  struct Job {
    JobStatus status;
    // Emitted on the strand only. Shared with the job's handler, so that it outlives the
    // call's use of its slot whatever is forgotten first.
    std::shared_ptr<asio::cancellation_signal> cancel;
    std::vector<WaitHandler> waiters;  // async_wait()s, completed when it finishes
    unsigned blocked = 0;              // wait()s blocked on it: it is not forgotten under them
    // Set once spawn() has submitted the call, whose cancellation slot is then installed:
    // before, the job is known to nobody (status, list, kill and wait say "unknown"), so that
    // no kill() can race the slot's installation and nothing can wait on a job that is
    // dropped because it could not be made. Its start and result may arrive before.
    bool visible = false;
  };

  State(JobsOptions o, std::function<void(Invocation, Handler)> invoke, std::function<void(Command, Handler)> run)
      : options(o), submit_invocation(std::move(invoke)), submit_command(std::move(run)) {
    if (options.max_finished == 0) throw OptionsError("JobsOptions::max_finished must be at least 1");
  }

  const JobsOptions options;
  const std::function<void(Invocation, Handler)> submit_invocation;
  const std::function<void(Command, Handler)> submit_command;
  asio::strand<asio::system_executor> strand{asio::system_executor()};

  mutable std::mutex mutex;
  std::condition_variable finished;
  JobId next_id = 1;
  std::map<JobId, Job> jobs;  // by id: oldest first

  // Registers a queued job; returns its id and its cancellation signal.
  std::pair<JobId, std::shared_ptr<asio::cancellation_signal>> add(std::string what) {
    std::lock_guard lock(mutex);
    const JobId id = next_id++;
    Job job;
    job.status.id = id;
    job.status.what = std::move(what);
    job.status.queued_at = Clock::now();
    job.cancel = std::make_shared<asio::cancellation_signal>();
    auto cancel = job.cancel;
    jobs.emplace(id, std::move(job));
    return {id, std::move(cancel)};
  }

  // The call could not be made: the job was never visible, so nothing waits on it.
  void forget(JobId id) {
    std::lock_guard lock(mutex);
    jobs.erase(id);
  }

  // The call is submitted: the job is known from now on.
  void publish(JobId id) {
    std::lock_guard lock(mutex);
    if (auto job = jobs.find(id); job != jobs.end()) job->second.visible = true;
    forget_old(Clock::now());
  }

  // Under the lock: the visible job `id`, or null.
  Job* visible(JobId id) {
    const auto job = jobs.find(id);
    return job != jobs.end() && job->second.visible ? &job->second : nullptr;
  }

  void started(JobId id, int pid) {
    std::lock_guard lock(mutex);
    auto job = jobs.find(id);
    if (job == jobs.end() || job->second.status.state == JobState::finished) return;
    job->second.status.state = JobState::running;
    job->second.status.pid = pid;
    job->second.status.started_at = Clock::now();
  }

  // On the strand: the job's result arrived.
  void finish(JobId id, CallResult result) {
    std::vector<WaitHandler> waiters;
    {
      std::lock_guard lock(mutex);
      auto job = jobs.find(id);
      if (job == jobs.end()) return;
      auto& status = job->second.status;
      status.state = JobState::finished;
      status.ended_at = Clock::now();
      if (result.pid != 0) status.pid = result.pid;
      status.result = result;
      waiters = std::move(job->second.waiters);
      forget_old(*status.ended_at);
    }
    finished.notify_all();
    for (auto& waiter : waiters) complete(std::move(waiter), result);
  }

  // Under the lock: finished jobs past keep_finished_for, then the oldest past max_finished;
  // never one a wait() is blocked on.
  void forget_old(Clock::time_point now) {
    std::size_t finished_count = 0;
    for (auto it = jobs.begin(); it != jobs.end();) {
      const auto& job = it->second;
      const bool done = job.status.state == JobState::finished && job.visible;
      if (done && job.blocked == 0 && *job.status.ended_at + options.keep_finished_for < now) {
        it = jobs.erase(it);
        continue;
      }
      if (done) ++finished_count;
      ++it;
    }
    for (auto it = jobs.begin(); it != jobs.end() && finished_count > options.max_finished;) {
      if (it->second.status.state == JobState::finished && it->second.visible && it->second.blocked == 0) {
        it = jobs.erase(it);
        --finished_count;
      } else {
        ++it;
      }
    }
  }

  // Completes an async_wait() on its own executor (the strand's when it has none).
  void complete(WaitHandler handler, CallResult result) {
    auto work = asio::prefer(asio::get_associated_executor(handler, strand), asio::execution::outstanding_work.tracked);
    detail::deliver(std::move(work), std::move(handler), std::move(result));
  }

  // The handler a job's call completes: on the strand, with the job's cancellation slot.
  auto handler_for(JobId id, std::shared_ptr<asio::cancellation_signal> cancel, const std::shared_ptr<State>& self) {
    auto slot = cancel->slot();
    return asio::bind_cancellation_slot(
        slot, asio::bind_executor(strand, [self, id, cancel = std::move(cancel)](CallResult result) {
          self->finish(id, std::move(result));
        }));
  }

  // The job's on_start: marks it running, then calls the caller's own hook.
  std::function<void(int)> on_start(JobId id, std::function<void(int)> callers, const std::shared_ptr<State>& self) {
    std::weak_ptr<State> weak = self;
    return [weak, id, callers = std::move(callers)](int pid) {
      if (auto state = weak.lock()) state->started(id, pid);
      if (callers) callers(pid);
    };
  }
};

Jobs::Jobs(ProcessIsolator& isolator, JobsOptions options)
    : state_(std::make_shared<State>(
          options,
          [&isolator](Invocation invocation, State::Handler handler) {
            isolator.async_invoke(std::move(invocation), std::move(handler));
          },
          [&isolator](Command command, State::Handler handler) {
            isolator.async_run(std::move(command), std::move(handler));
          })) {}

Jobs::Jobs(IsolatorPool& pool, JobsOptions options)
    : state_(std::make_shared<State>(
          options,
          [&pool](Invocation invocation, State::Handler handler) {
            pool.async_invoke(std::move(invocation), std::move(handler));
          },
          [&pool](Command command, State::Handler handler) { pool.async_run(std::move(command), std::move(handler)); })) {}

Jobs::~Jobs() {
  std::vector<std::shared_ptr<asio::cancellation_signal>> unfinished;
  {
    std::lock_guard lock(state_->mutex);
    for (auto& [id, job] : state_->jobs) {
      if (job.status.state != JobState::finished) unfinished.push_back(job.cancel);
    }
  }
  for (auto& cancel : unfinished) {
    asio::post(state_->strand, [cancel] { cancel->emit(asio::cancellation_type::terminal); });
  }
}

namespace {

// Registers `work` (an Invocation or a Command) as a job and submits it; forgets it again when
// it cannot be made.
template <class Work, class Submit>
JobId spawn_job(const std::shared_ptr<Jobs::State>& state, std::string what, Work work, const Submit& submit) {
  auto [id, cancel] = state->add(std::move(what));
  work.options.on_start = state->on_start(id, std::move(work.options.on_start), state);
  try {
    submit(std::move(work), Jobs::State::Handler(state->handler_for(id, std::move(cancel), state)));
  } catch (...) {
    state->forget(id);
    throw;
  }
  state->publish(id);
  return id;
}

}  // namespace

JobId Jobs::spawn(Invocation invocation) {
  std::string what = detail::describe_call(invocation);
  return spawn_job(state_, std::move(what), std::move(invocation), state_->submit_invocation);
}

JobId Jobs::spawn(Command command) {
  // Named as failure messages name a program's call (an empty argv is refused by the submit).
  std::string what = detail::describe_call(
      detail::program_description(command.argv.empty() ? std::string() : command.argv.front(), {}));
  return spawn_job(state_, std::move(what), std::move(command), state_->submit_command);
}

std::optional<JobStatus> Jobs::status(JobId id) const {
  std::lock_guard lock(state_->mutex);
  state_->forget_old(Clock::now());
  const auto* job = state_->visible(id);
  if (job == nullptr) return std::nullopt;
  return job->status;
}

std::vector<JobStatus> Jobs::list() const {
  std::lock_guard lock(state_->mutex);
  state_->forget_old(Clock::now());
  std::vector<JobStatus> all;
  all.reserve(state_->jobs.size());
  for (const auto& [id, job] : state_->jobs) {
    if (job.visible) all.push_back(job.status);
  }
  return all;
}

bool Jobs::kill(JobId id) {
  std::shared_ptr<asio::cancellation_signal> cancel;
  {
    std::lock_guard lock(state_->mutex);
    const auto* job = state_->visible(id);
    if (job == nullptr || job->status.state == JobState::finished) return false;
    cancel = job->cancel;
  }
  asio::post(state_->strand, [cancel] { cancel->emit(asio::cancellation_type::terminal); });
  return true;
}

namespace {

Error unknown_job(JobId id) {
  return Error("job " + std::to_string(id) +
               " is unknown: never spawned by this Jobs object, or finished and forgotten (JobsOptions)");
}

}  // namespace

CallResult Jobs::wait(JobId id) {
  // Where the jobs' results arrive: waiting there would wait for itself.
  if (state_->strand.running_in_this_thread()) {
    throw Error("Jobs::wait() was called from an async_wait() completion that runs on the jobs' own strand, "
                "where job results arrive; it would wait for itself. Use async_wait there");
  }
  std::unique_lock lock(state_->mutex);
  auto* job = state_->visible(id);
  if (job == nullptr) throw unknown_job(id);
  ++job->blocked;  // the job stays (a map's element does not move while others come and go)
  state_->finished.wait(lock, [&] { return job->status.state == JobState::finished; });
  --job->blocked;
  return *job->status.result;
}

void Jobs::start_wait(JobId id, WaitHandler handler) {
  std::unique_lock lock(state_->mutex);
  auto* job = state_->visible(id);
  if (job == nullptr) throw unknown_job(id);
  if (job->status.state != JobState::finished) {
    job->waiters.push_back(std::move(handler));
    return;
  }
  CallResult result = *job->status.result;
  lock.unlock();
  // Posted, never run here: a handler must not run before its initiating function returns.
  auto state = state_;
  asio::post(state->strand, [state, handler = std::move(handler), result = std::move(result)]() mutable {
    state->complete(std::move(handler), std::move(result));
  });
}

}  // namespace isolator
