// Prints what samplehost sees, for people or (--json) as one JSON object per line.
// Thread-safe: events and output arrive on the isolators' threads (one per child with --pool),
// results on the main one.
#pragma once

#include <isolator/isolator.hpp>

#include <atomic>
#include <mutex>

namespace samplehost {

class Reporter {
 public:
  explicit Reporter(bool json) : json_(json) {}

  /// The number of the call in progress, for attributing output lines. Never called with
  /// --pool, where calls run at once: output lines then say `"call":null` (each
  /// CallResult::output still holds its own call's lines).
  void begin_call(int call) { current_call_ = call; }

  void event(const isolator::Event& event);
  void output(isolator::OutputStream stream, std::string_view line);
  void result(int call, const isolator::CallResult& result);
  /// What a plugin sent to samplehost's `log` service (any thread).
  void plugin_log(std::string_view text);
  /// The program --run or --file runs (`interpreter`: what --file chose, or empty).
  void program(const std::vector<std::string>& argv, const std::string& interpreter);
  /// --jobs: a snapshot of the jobs (id, state, what it runs, the child's pid, and for a
  /// finished one whether it returned or the failure's kind).
  void jobs(const std::vector<isolator::JobStatus>& jobs);
  /// A failure of samplehost itself (bad usage, no child could be started).
  void error(const std::string& message);

 private:
  void print(const std::string& line);

  bool json_;
  std::atomic<int> current_call_{0};
  std::mutex mutex_;
};

}  // namespace samplehost
