// ProcessIsolator: one Supervisor on one I/O thread of its own. This file is the facade: it
// checks and encodes calls on the caller's thread, hands them to the I/O thread, and turns
// the asynchronous start and stop into the blocking create() and shutdown().
#include "call_check.hpp"
#include "completion.hpp"
#include "engine/cancel_relay.hpp"
#include "engine/failure_interpretation.hpp"
#include "engine/io_threads.hpp"
#include "engine/supervisor.hpp"
#include "options_check.hpp"

#include <isolator/errors.hpp>
#include <isolator/wire/codec.hpp>

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <mutex>

namespace isolator {

namespace asio = boost::asio;

class ProcessIsolator::Impl {
 public:
  /// Validates the options, finds pihost, chooses the containment, makes the private
  /// directory and starts the I/O thread. Throws OptionsError or StartError.
  explicit Impl(Options options)
      : options_(detail::validated(options)),
        launcher_(detail::make_launcher(options_)),
        loadable_(detail::loadable_directories(options_)),
        search_path_(detail::configured_search_path(options_, loadable_)),
        threads_(1),
        supervisor_(threads_.executor(), options_, std::move(launcher_)) {}

  ~Impl() {
    stop_once();
    relay_->detach();  // a caller's slot may still cancel: into nothing
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  /// Starts the first child and waits for its handshake; throws StartError.
  void start() {
    std::promise<void> started;
    auto future = started.get_future();
    asio::post(threads_.executor(), [this, &started] {
      supervisor_.start([&started](std::optional<std::string> error) {
        if (error) {
          started.set_exception(std::make_exception_ptr(StartError(*error)));
        } else {
          started.set_value();
        }
      });
    });
    future.get();
  }

  void submit(Invocation invocation, Handler handler) {
    invocation.library = detail::loadable_library(std::move(invocation.library), loadable_);
    auto search_path = detail::call_search_path(invocation, search_path_, loadable_);
    detail::check_sendable(invocation, search_path, options_.max_frame_bytes);
    const std::uint64_t id = supervisor_.next_id();
    // The arguments move into the frame: it is all a retry or a requeue needs (the same id
    // gives the same bytes), and a large argument is not kept twice.
    auto frame = std::make_shared<const std::string>(wire::encode_frame(wire::Invoke{
        id, invocation.library, invocation.symbol, std::move(invocation.args), std::move(search_path),
        std::move(invocation.input)}));
    invocation.args.clear();
    invocation.input.clear();
    const unsigned retries = invocation.options.retries;
    accept(detail::PendingCall{id, std::move(invocation), std::move(frame), std::move(handler), {},
                               detail::Cancellation::none, false, retries});
  }

  // Queues `call` (its work still to be filled in); throws ShutDownError after shutdown.
  // (The handler is moved into the call by construction: Boost 1.81's move assignment of an
  // any_completion_handler wraps the handler in itself for ever.)
  void accept(detail::PendingCall call) {
    call.work = asio::prefer(asio::get_associated_executor(call.handler, threads_.executor()),
                             asio::execution::outstanding_work.tracked);
    auto slot = asio::get_associated_cancellation_slot(call.handler);
    const std::uint64_t id = call.id;
    std::lock_guard lock(accept_mutex_);
    if (!accepting_) throw ShutDownError("the isolator is shut down; create a new one to make calls");
    // Per-operation cancellation (asio::bind_cancellation_slot, a coroutine's cancellation...):
    // a queued call is dropped, a running one kills its child, which the supervisor replaces.
    // Installed here, on the initiating thread, once the call is sure to be accepted; removed
    // on the handler's executor as the call completes (Asio's slots are not thread-safe).
    if (detail::CancelRelay::install(slot, relay_, id)) call.cancellation = detail::Cancellation::installed;
    asio::post(threads_.executor(),
               [this, call = std::move(call)]() mutable { supervisor_.submit(std::move(call)); });
  }

  void submit_run(Command command, Handler handler) {
    CallOptions call_options = command.options;
    wire::Run run = detail::checked_run(std::move(command), options_.limits.cpu_time_per_call, loadable_);
    run.id = supervisor_.next_id();
    auto frame = detail::run_frame(run, options_.max_frame_bytes);
    accept(detail::PendingCall{run.id, detail::program_description(run.argv.front(), call_options),
                               std::move(frame), std::move(handler), {}, detail::Cancellation::none, false,
                               call_options.retries});
  }

  void set_data(const std::string& key, std::string value) {
    std::string frame = wire::encode_frame(wire::SetData{key, value});
    if (frame.size() - wire::frame_header_bytes > options_.max_frame_bytes) {
      throw Error("set_data(\"" + key.substr(0, 64) + "\"): a value of " + std::to_string(value.size()) +
                  " bytes does not fit in Options::max_frame_bytes (" +
                  std::to_string(options_.max_frame_bytes) + ")");
    }
    std::lock_guard lock(accept_mutex_);
    if (!accepting_) throw ShutDownError("the isolator is shut down; set_data is not possible");
    asio::post(threads_.executor(),
               [this, key, value = std::move(value), frame = std::move(frame)]() mutable {
                 supervisor_.set_data(key, std::move(value), std::move(frame));
               });
  }

  std::optional<std::string> get_data(const std::string& key) {
    if (on_io_thread()) {
      throw Error("get_data() was called from the isolator's own I/O thread; it would wait for itself");
    }
    const std::uint64_t id = supervisor_.next_id();
    std::string frame = wire::encode_frame(wire::GetData{id, key});
    if (frame.size() - wire::frame_header_bytes > options_.max_frame_bytes) {
      throw Error("get_data: a key of " + std::to_string(key.size()) +
                  " bytes does not fit in Options::max_frame_bytes");
    }
    auto answer = std::make_shared<std::promise<std::optional<std::string>>>();
    auto future = answer->get_future();
    {
      std::lock_guard lock(accept_mutex_);
      if (!accepting_) throw ShutDownError("the isolator is shut down; get_data is not possible");
      asio::post(threads_.executor(), [this, id, key, frame = std::move(frame), answer]() mutable {
        supervisor_.get_data(id, key, std::move(frame), [answer](std::optional<std::string> value) {
          answer->set_value(std::move(value));
        });
      });
    }
    return future.get();
  }

  int pid() const { return supervisor_.pid(); }
  State state() const { return supervisor_.state(); }
  const std::string& containment() const { return supervisor_.containment(); }
  asio::any_io_executor executor() { return threads_.executor(); }
  bool on_io_thread() const { return threads_.in_this_thread(); }

  void reset() {
    std::lock_guard lock(accept_mutex_);
    if (!accepting_) throw ShutDownError("the isolator is shut down; create a new one");
    supervisor_.leave_failed_now();
    asio::post(threads_.executor(), [this] { supervisor_.reset(); });
  }

  /// Blocks until the child is stopped and every call completed; idempotent. Throws Error on
  /// the I/O thread, where it would wait for itself.
  void shutdown() {
    // Before call_once: on the I/O thread, waiting for another thread's shutdown would wait
    // for this very thread.
    if (on_io_thread()) {
      throw Error("shutdown() was called from the isolator's own I/O thread (a callback or a "
                  "completion handler), where it would wait for itself");
    }
    stop_once();
  }

 private:
  // The shutdown itself, once; also from the destructor, which the I/O thread runs when the
  // isolator was released there (the shutdown is then done already).
  void stop_once() {
    std::call_once(shutdown_once_, [this] {
      std::promise<void> done;
      auto future = done.get_future();
      {
        std::lock_guard lock(accept_mutex_);
        accepting_ = false;
        asio::post(threads_.executor(), [this, &done] { supervisor_.stop([&done] { done.set_value(); }); });
      }
      future.get();
      threads_.stop_and_join();
    });
  }

 public:
  /// For a ProcessIsolator destroyed on its own I/O thread (from one of its handlers):
  /// shuts down without waiting, and the I/O thread destroys `self` when it is done.
  static void release_from_own_thread(std::unique_ptr<Impl> self) {
    Impl* impl = self.get();
    std::call_once(impl->shutdown_once_, [impl, &self] {
      std::lock_guard lock(impl->accept_mutex_);
      impl->accepting_ = false;
      impl->threads_.release(std::shared_ptr<Impl>(std::move(self)));
      // Posted, not run here: the caller is inside one of this isolator's handlers.
      asio::post(impl->threads_.executor(),
                 [impl] { impl->supervisor_.stop([impl] { impl->threads_.stop(); }); });
    });
  }

 private:
  const Options options_;
  std::unique_ptr<detail::Launcher> launcher_;         // moved into the supervisor
  const std::vector<std::filesystem::path> loadable_;  // strict profile: where libraries may lie
  const std::vector<std::string> search_path_;         // Options::library_search_path, checked
  detail::IoThreads threads_;
  detail::Supervisor supervisor_;
  // Guards `accepting_`, so that no work is posted once shutdown has begun.
  std::mutex accept_mutex_;
  bool accepting_ = true;
  std::once_flag shutdown_once_;
  const std::shared_ptr<detail::CancelRelay> relay_ = std::make_shared<detail::CancelRelay>(
      [this](std::uint64_t id) { asio::post(threads_.executor(), [this, id] { supervisor_.cancel(id); }); });
};

std::unique_ptr<ProcessIsolator> ProcessIsolator::create(Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  try {
    impl->start();
  } catch (...) {
    impl->shutdown();  // reaps whatever was spawned and removes the private directory
    throw;
  }
  return std::unique_ptr<ProcessIsolator>(new ProcessIsolator(std::move(impl)));
}

ProcessIsolator::ProcessIsolator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ProcessIsolator::~ProcessIsolator() {
  if (impl_->on_io_thread()) {
    // Destroyed from one of its own handlers: waiting here would wait for itself.
    Impl::release_from_own_thread(std::move(impl_));
    return;
  }
  impl_->shutdown();
}

CallResult ProcessIsolator::invoke(std::string library, std::string symbol, std::vector<std::string> args,
                                   CallOptions options) {
  return invoke(Invocation{std::move(library), std::move(symbol), std::move(args), options, {}});
}

CallResult ProcessIsolator::invoke(Invocation invocation) {
  if (impl_->on_io_thread()) {
    throw Error("invoke() was called from the isolator's own I/O thread (a callback or a "
                "completion handler), where it would wait for itself; use async_invoke there");
  }
  return detail::wait_for_call([&](Handler handler) { start_invoke(std::move(invocation), std::move(handler)); });
}

void ProcessIsolator::start_invoke(Invocation invocation, Handler handler) {
  impl_->submit(std::move(invocation), std::move(handler));
}

CallResult ProcessIsolator::run(Command command) {
  if (impl_->on_io_thread()) {
    throw Error("run() was called from the isolator's own I/O thread (a callback or a completion handler), where "
                "it would wait for itself; use async_run there");
  }
  return detail::wait_for_call([&](Handler handler) { start_run(std::move(command), std::move(handler)); });
}

void ProcessIsolator::start_run(Command command, Handler handler) { impl_->submit_run(std::move(command), std::move(handler)); }

void ProcessIsolator::set_data(const std::string& key, std::string value) {
  impl_->set_data(key, std::move(value));
}

std::optional<std::string> ProcessIsolator::get_data(const std::string& key) { return impl_->get_data(key); }

int ProcessIsolator::pid() const { return impl_->pid(); }

State ProcessIsolator::state() const { return impl_->state(); }

std::string ProcessIsolator::containment() const { return impl_->containment(); }

ResourceUsage ProcessIsolator::resource_usage() const { return detail::read_process_usage(impl_->pid()); }

boost::asio::any_io_executor ProcessIsolator::get_executor() const { return impl_->executor(); }

void ProcessIsolator::reset() { impl_->reset(); }

void ProcessIsolator::shutdown() { impl_->shutdown(); }

}  // namespace isolator
