#include "service_calls.hpp"

#include "../log.hpp"

#include <isolator/wire/codec.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <pthread.h>

#include <algorithm>
#include <exception>
#include <thread>
#include <utility>

namespace isolator::detail {

namespace asio = boost::asio;

// The completion of a service outlives neither the process nor its own ServiceCalls' state:
// it posts back only while `owner` is set, under the mutex that ~ServiceCalls takes to clear it.
struct ServiceCalls::Gate {
  std::mutex mutex;
  ServiceCalls* owner = nullptr;
};

namespace {

// What a HostAnswer frame holds besides its bytes, with room to spare.
constexpr std::size_t answer_overhead = 64;

// Where a service without an executor of its own runs: threads of the library's, named
// "isolator-svc", never an isolator's I/O thread. Made at the first use and never destroyed,
// so that a service that never returns cannot hold up the process's exit.
asio::any_io_executor default_service_executor() {
  static auto* pool = new asio::thread_pool(std::max(4u, 2 * std::thread::hardware_concurrency()));
  return pool->get_executor();
}

// The unknown_service answer: the name asked for and the names there are, cut to fit a frame
// (a name may be nearly a frame long, and a host may offer many services).
std::string unknown_service(const std::string& asked, const Options& options) {
  constexpr std::size_t max_name = 256;
  std::string text = "the host has no service '" + asked.substr(0, max_name) +
                     (asked.size() > max_name ? "...'" : "'") + "; ";
  if (options.services.empty()) return text + "it offers none (Options::services is empty)";
  text += "it offers ";
  bool first = true;
  for (const auto& [name, service] : options.services) {
    if (!first) text += ", ";
    first = false;
    text += "'" + name + "'";
  }
  const std::size_t room = options.max_frame_bytes - answer_overhead;
  if (text.size() > room) text = text.substr(0, room - 3) + "...";
  return text;
}

}  // namespace

ServiceCalls::ServiceCalls(asio::any_io_executor home, const Options& options)
    : home_(std::move(home)), options_(options), gate_(std::make_shared<Gate>()) {
  gate_->owner = this;
}

ServiceCalls::~ServiceCalls() {
  std::lock_guard lock(gate_->mutex);
  gate_->owner = nullptr;
}

void ServiceCalls::send(ChildProcess& child, std::uint64_t seq, wire::HostStatus status, std::string bytes) {
  child.send(wire::encode_frame(wire::HostAnswer{seq, status, std::move(bytes)}));
}

std::size_t ServiceCalls::backlog_limit() const {
  return std::max<std::size_t>(4 * options_.max_frame_bytes, std::size_t{1} << 20);
}

void ServiceCalls::request(const std::shared_ptr<ChildProcess>& child, wire::CallHost call, bool call_running) {
  if (!child->ready()) return;  // being killed: an answer would be dropped
  if (child->unsent_bytes() > backlog_limit()) {
    child->fail_protocol("pihost sends service calls but does not read the answers (" +
                         std::to_string(child->unsent_bytes()) + " bytes wait to be sent to it)");
    return;
  }
  if (!call_running) {
    send(*child, call.seq, wire::HostStatus::ended, {});
    return;
  }
  const auto service = options_.services.find(call.service);
  if (service == options_.services.end()) {
    send(*child, call.seq, wire::HostStatus::unknown_service, unknown_service(call.service, options_));
    return;
  }
  // Counted until the service returns, also for a child replaced meanwhile: a plugin that
  // gets its child replaced while its services run gets no fresh allowance.
  if (in_flight_ >= options_.max_service_calls) {
    log().debug("pihost pid {}: service call to '{}' refused: {} run already (Options::max_service_calls)",
                child->pid(), call.service, in_flight_);
    send(*child, call.seq, wire::HostStatus::busy, {});
    return;
  }
  if (!running_.emplace(call.seq, child).second) {
    child->fail_protocol("pihost sent service call " + std::to_string(call.seq) + " while it was running");
    return;
  }
  ++in_flight_;
  const bool own_executor = static_cast<bool>(service->second.executor);
  const auto executor = own_executor ? service->second.executor : default_service_executor();
  asio::post(executor, [gate = gate_, home = home_, function = service->second.function, generation = generation_,
                        seq = call.seq, bytes = std::move(call.bytes), own_executor] {
    if (!own_executor) ::pthread_setname_np(::pthread_self(), "isolator-svc");
    wire::HostStatus status = wire::HostStatus::ok;
    std::string answer;
    try {
      answer = function(bytes);
    } catch (const std::exception& e) {
      status = wire::HostStatus::threw;
      answer = e.what();
    } catch (...) {
      status = wire::HostStatus::threw;
      answer = "an exception that is not a std::exception";
    }
    std::lock_guard lock(gate->mutex);
    if (gate->owner == nullptr) return;  // the isolator is gone
    asio::post(home, [gate, generation, seq, status, answer = std::move(answer)]() mutable {
      std::lock_guard again(gate->mutex);
      if (gate->owner != nullptr) gate->owner->answered(generation, seq, status, std::move(answer));
    });
  });
}

void ServiceCalls::answered(std::uint64_t generation, std::uint64_t seq, wire::HostStatus status, std::string bytes) {
  --in_flight_;
  if (generation != generation_) return;  // for a child that is gone or replaced
  const auto asked = running_.find(seq);
  if (asked == running_.end()) return;  // answered `ended` already
  const auto child = asked->second.lock();
  running_.erase(asked);
  if (!child || !child->ready()) return;
  if (bytes.size() + answer_overhead > options_.max_frame_bytes) {
    status = wire::HostStatus::threw;
    bytes = "the service's answer of " + std::to_string(bytes.size()) +
            " bytes is more than a frame holds (Options::max_frame_bytes, " + std::to_string(options_.max_frame_bytes) +
            ")";
  }
  send(*child, seq, status, std::move(bytes));
}

void ServiceCalls::forget() {
  ++generation_;
  running_.clear();
}

void ServiceCalls::end_all(const std::shared_ptr<ChildProcess>& child) {
  if (child) {
    for (const auto& [seq, asked] : running_) {
      if (asked.lock() == child) send(*child, seq, wire::HostStatus::ended, {});
    }
  }
  forget();
}

}  // namespace isolator::detail
