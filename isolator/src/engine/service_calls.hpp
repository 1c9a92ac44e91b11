// The host's side of a plugin's service calls (CallHost): checks each against the call
// running and the bound, runs the service on its executor, and sends the HostAnswer back to
// the child that asked, unless that child is gone or replaced by then.
#pragma once

#include "../platform/child_process.hpp"

#include <isolator/options.hpp>
#include <isolator/wire/protocol.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace isolator::detail {

/// Lives on the supervisor's executor (`home`), as every member is called there.
class ServiceCalls {
 public:
  /// `options` outlives this (the supervisor's).
  ServiceCalls(boost::asio::any_io_executor home, const Options& options);
  /// Answers that come later are dropped, and nothing is posted to `home` any more.
  ~ServiceCalls();
  ServiceCalls(const ServiceCalls&) = delete;
  ServiceCalls& operator=(const ServiceCalls&) = delete;

  /// A CallHost from `child` (the current one). `call_running`: the call it names runs and
  /// has started. Answers at once when the call is over, the service unknown or the bound
  /// reached; otherwise runs the service and answers when it returns. A protocol error of the
  /// child: a seq already running, or service calls while the child leaves more than
  /// backlog_limit() bytes the host sent it unread (every request is answered, so a child
  /// that sends them without reading would otherwise grow the host's memory without end).
  void request(const std::shared_ptr<ChildProcess>& child, wire::CallHost call, bool call_running);

  /// The current child changed (or died): what its calls answer later is dropped. They still
  /// count against the bound until their service returns.
  void forget();

  /// The isolator is stopping: every service call running is answered `ended` now, through
  /// `child` when it is still there; their own answers are dropped.
  void end_all(const std::shared_ptr<ChildProcess>& child);

 private:
  /// The unread bytes past which a child's service call is a protocol error.
  std::size_t backlog_limit() const;

  struct Gate;  // shared with the service's completion, which may outlive this
  void answered(std::uint64_t generation, std::uint64_t seq, wire::HostStatus status, std::string bytes);
  static void send(ChildProcess& child, std::uint64_t seq, wire::HostStatus status, std::string bytes);

  const boost::asio::any_io_executor home_;
  const Options& options_;
  std::shared_ptr<Gate> gate_;
  std::uint64_t generation_ = 0;  // bumped by forget()
  std::size_t in_flight_ = 0;     // services posted whose completion has not come back
  std::map<std::uint64_t, std::weak_ptr<ChildProcess>> running_;  // seq -> the child that asked
};

}  // namespace isolator::detail
