// Jobs (isolator/jobs.hpp): calls and programs started and come back to by id: listed with
// their states, killed while queued and while running, waited for from several threads and
// asynchronously, and forgotten past their bound.
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/use_future.hpp>

#include <atomic>
#include <future>
#include <thread>

namespace isolator {
namespace {

using namespace std::chrono_literals;
using test::plugin;

Invocation sleeper(int ms) { return Invocation{plugin("sleep"), "method", {std::to_string(ms)}}; }

// Waits up to 10 s for the job to reach `state`.
bool reaches(const Jobs& jobs, JobId id, JobState state) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    if (auto s = jobs.status(id); s && s->state == state) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

TEST(Jobs, AreListedWithTheirStatesTimesAndResults) {
  auto isolator = ProcessIsolator::create(test::options());
  Jobs jobs(*isolator);
  const JobId first = jobs.spawn(sleeper(1500));
  const JobId second = jobs.spawn(Command{{"sh", "-c", "echo from the second; exit 4"}});
  EXPECT_EQ(second, first + 1);
  ASSERT_TRUE(reaches(jobs, first, JobState::running));
  const auto listed = jobs.list();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, first);
  EXPECT_EQ(listed[0].state, JobState::running);
  EXPECT_EQ(listed[0].pid, isolator->pid());
  EXPECT_NE(listed[0].what.find("libplugin_sleep.so"), std::string::npos) << listed[0].what;
  ASSERT_TRUE(listed[0].started_at.has_value());
  EXPECT_LE(listed[0].queued_at, *listed[0].started_at);
  EXPECT_EQ(listed[1].state, JobState::queued) << "one child runs one call at a time";
  EXPECT_EQ(listed[1].pid, 0);
  EXPECT_EQ(listed[1].what, "program 'sh'");
  EXPECT_FALSE(listed[1].result.has_value());

  const auto r = jobs.wait(second);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r.code, 4);
  const auto done = jobs.status(first);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->state, JobState::finished);
  ASSERT_TRUE(done->result && done->result->ok());
  EXPECT_EQ(*done->result->code, 7);
  ASSERT_TRUE(done->ended_at.has_value());
  EXPECT_LE(*done->started_at, *done->ended_at);
  const auto second_status = jobs.status(second);
  ASSERT_TRUE(second_status.has_value());
  ASSERT_EQ(second_status->result->output.size(), 1u);
  EXPECT_EQ(second_status->result->output[0].text, "from the second");
  EXPECT_EQ(to_string(JobState::finished), "finished");
}

TEST(Jobs, AJobKilledWhileQueuedIsDroppedAndTheRunningOneGoesOn) {
  auto isolator = ProcessIsolator::create(test::options());
  Jobs jobs(*isolator);
  const JobId running = jobs.spawn(sleeper(1500));
  const JobId queued = jobs.spawn(sleeper(10));
  ASSERT_TRUE(reaches(jobs, running, JobState::running));
  const int pid = isolator->pid();
  EXPECT_TRUE(jobs.kill(queued));
  const auto dropped = jobs.wait(queued);
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.failure->kind, FailureKind::cancelled);
  EXPECT_EQ(jobs.status(queued)->pid, 0) << "it never ran";
  const auto kept = jobs.wait(running);
  ASSERT_TRUE(kept.ok()) << kept.failure->message;
  EXPECT_EQ(isolator->pid(), pid) << "the running job's child was left alone";
  EXPECT_FALSE(jobs.kill(queued)) << "finished already";
}

TEST(Jobs, AJobKilledWhileRunningHasItsChildReplacedAndTheNextJobRuns) {
  auto isolator = ProcessIsolator::create(test::options());
  Jobs jobs(*isolator);
  const JobId running = jobs.spawn(Command{{"sleep", "30"}});
  const JobId next = jobs.spawn(sleeper(1));
  ASSERT_TRUE(reaches(jobs, running, JobState::running));
  const int pid = jobs.status(running)->pid;
  EXPECT_TRUE(jobs.kill(running));
  const auto killed = jobs.wait(running);
  ASSERT_FALSE(killed.ok());
  EXPECT_EQ(killed.failure->kind, FailureKind::cancelled);
  const auto after = jobs.wait(next);
  ASSERT_TRUE(after.ok()) << after.failure->message;
  EXPECT_NE(after.pid, pid) << "the next job ran on the replacement";
}

TEST(Jobs, AJobIsWaitedForFromTwoThreadsAndAsynchronously) {
  auto isolator = ProcessIsolator::create(test::options());
  Jobs jobs(*isolator);
  const JobId id = jobs.spawn(sleeper(300));
  auto asynchronous = jobs.async_wait(id, boost::asio::use_future);
  std::optional<CallResult> first;
  std::optional<CallResult> second;
  std::thread a([&] { first = jobs.wait(id); });
  std::thread b([&] { second = jobs.wait(id); });
  a.join();
  b.join();
  const auto third = asynchronous.get();
  for (const CallResult* r : std::initializer_list<const CallResult*>{&*first, &*second, &third}) {
    ASSERT_TRUE(r->ok());
    EXPECT_EQ(*r->code, 7);
  }
  // Once finished, an async_wait completes at once (never inside the call that starts it).
  EXPECT_EQ(*jobs.async_wait(id, boost::asio::use_future).get().code, 7);
  // In a completion on the jobs' own strand, where results arrive, a blocking wait refuses.
  std::promise<std::string> refused;
  jobs.async_wait(id, [&](CallResult) {
    try {
      jobs.wait(id);
      refused.set_value("");
    } catch (const Error& e) {
      refused.set_value(e.what());
    }
  });
  EXPECT_NE(refused.get_future().get().find("would wait for itself"), std::string::npos);
}

TEST(Jobs, FinishedJobsAreForgottenPastTheBoundAndUnknownIdsSaySo) {
  auto isolator = ProcessIsolator::create(test::options());
  Jobs jobs(*isolator, JobsOptions{2, std::chrono::seconds(600)});
  std::vector<JobId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(jobs.spawn(sleeper(1)));
  for (const JobId id : ids) jobs.wait(id);
  EXPECT_FALSE(jobs.status(ids[0]).has_value()) << "the oldest finished job is forgotten";
  EXPECT_TRUE(jobs.status(ids[1]).has_value());
  EXPECT_TRUE(jobs.status(ids[2]).has_value());
  EXPECT_EQ(jobs.list().size(), 2u);
  EXPECT_THROW(jobs.wait(ids[0]), Error);
  EXPECT_THROW(jobs.wait(999), Error);
  EXPECT_FALSE(jobs.kill(999));
  EXPECT_THROW(Jobs(*isolator, JobsOptions{0, std::chrono::seconds(1)}), OptionsError);
}

TEST(Jobs, AJobThatCannotBeMadeThrowsAndIsNotKept) {
  auto isolator = ProcessIsolator::create(test::options());
  Jobs jobs(*isolator);
  EXPECT_THROW(jobs.spawn(Command{}), Error);
  EXPECT_TRUE(jobs.list().empty());
  // The caller's own start hook still runs.
  std::atomic<int> started_on{0};
  Invocation call = sleeper(1);
  call.options.on_start = [&](int pid) { started_on = pid; };
  const JobId id = jobs.spawn(call);
  ASSERT_TRUE(jobs.wait(id).ok());
  EXPECT_EQ(started_on.load(), isolator->pid());
}

TEST(Jobs, OnAPoolJobsRunSideBySide) {
  PoolOptions options;
  options.isolator = test::options();
  options.size = 2;
  auto pool = IsolatorPool::create(options);
  Jobs jobs(*pool);
  const JobId a = jobs.spawn(sleeper(400));
  const JobId b = jobs.spawn(Command{{"sleep", "0.4"}});
  ASSERT_TRUE(reaches(jobs, a, JobState::running));
  ASSERT_TRUE(reaches(jobs, b, JobState::running));
  EXPECT_NE(jobs.status(a)->pid, jobs.status(b)->pid);
  EXPECT_TRUE(jobs.wait(a).ok());
  EXPECT_TRUE(jobs.wait(b).ok());
}

TEST(Jobs, DestroyingTheTableCancelsWhatIsUnfinished) {
  auto isolator = ProcessIsolator::create(test::options());
  const int pid = isolator->pid();
  {
    Jobs jobs(*isolator);
    const JobId id = jobs.spawn(Command{{"sleep", "30"}});
    ASSERT_TRUE(reaches(jobs, id, JobState::running));
  }
  // The running job's child is killed and replaced; the isolator takes calls again.
  const auto r = isolator->invoke(sleeper(1));
  ASSERT_TRUE(r.ok()) << r.failure->message;
  EXPECT_NE(r.pid, pid);
}

}  // namespace
}  // namespace isolator
