// ProcessIsolator: runs methods of plugin libraries in a separate pihost child process, so
// that whatever a plugin does (crash, exit, throw, hang) costs the caller one failed call,
// never the host application.
//
//   auto isolator = isolator::ProcessIsolator::create({});
//   isolator::CallResult r = isolator->invoke("/abs/path/libplugin.so", "method", {"a", "b"});
//   if (r.ok()) use(*r.code); else report(r.failure->message);
//
// Threads: every member function may be called from any thread, concurrently, except that
// the ones that wait for the isolator (invoke, get_data, shutdown) throw Error on its own
// I/O thread, where they would wait for themselves. Calls are queued and run one at a time
// in the child, in the order they were made. Completion
// handlers run on the isolator's own I/O thread unless a handler has an associated
// executor (as use_awaitable's and bind_executor's do), which is then used; Options
// callbacks run there unless Options::callback_executor is set.
//
// When the child dies (crash, exit, kill), the call it was running fails with the cause
// (or runs again, if it asked for retries), and the supervisor starts a fresh child after a
// backoff, within the limits of Options::supervision; queued calls, and a call the dead
// child had not yet started, run on the new one. Values stored with set_data are replayed
// into every new child; values a plugin stored itself are lost with its child.
//
// Programs: run() and async_run() run a whole command line in the child's box instead of a
// method (Command); they queue and complete exactly as calls do.
//
// Output: a line the child writes is attributed to the call in flight when the host reads
// it. A thread that an earlier call left running can therefore print into a later call's
// output; output written while no call is in flight reaches only Options::on_output.
//
// Requirements on the application: it must not ignore SIGCHLD nor reap children it did not
// start (waitpid(-1)), or the cause of a child's death cannot be read; such a death is then
// reported as `crashed` with a message that says so.
#pragma once

#include <isolator/call_result.hpp>
#include <isolator/options.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace isolator {

/// One method call: the plugin's absolute path, the exported symbol, the arguments
/// (argv[1..] of the method).
struct Invocation {
  std::string library;            ///< absolute path of the plugin's shared object
  std::string symbol = "method";  ///< `extern "C" int symbol(int argc, char** argv)`
  std::vector<std::string> args;  ///< argv[1..argc-1]; any bytes (argv[0] is `library`)
  CallOptions options;            ///< this call's deadline and retries
  /// Bytes for the method to read with isolator_input() (isolator/plugin.hpp): any bytes, NUL
  /// included; empty for none. Build them from a C++ value with isolator::to_bytes
  /// (isolator/values.hpp). Counted in the call's frame (Options::max_frame_bytes).
  std::string input;
};

/// One program to run in the child's box (ProcessIsolator::run, IsolatorPool::run): a whole
/// command line, with the isolator's containment and limits, the call's deadline, CPU-time
/// limit and output cap, as a method's call has them (docs/programs.md).
///
///   isolator::CallResult r = isolator->run({.argv = {"sort", "-r"}, .input = "b\na\n"});
///   // r.code: its exit status (any code is a successful call); r.output: its lines
struct Command {
  /// The program, then its arguments. argv[0] is an absolute path, or a name without '/'
  /// looked up in the PATH of the program's environment (the child's: Options::environment
  /// and inherit_environment, then `environment`). Not empty; no string holds a NUL byte.
  std::vector<std::string> argv;
  /// Its stdin: any bytes, read from their start (a regular file, not a pipe); empty:
  /// /dev/null. Counted in the call's frame (Options::max_frame_bytes).
  std::string input;
  /// Variables set for it over the child's environment: a name (not empty, no '=') and a
  /// value (no NUL).
  std::vector<std::pair<std::string, std::string>> environment;
  /// Its working directory, absolute; empty: the child's private working directory (where a
  /// method's call runs too).
  std::string working_directory;
  /// This call's deadline and retries, as for a method.
  CallOptions options;
};

/// Resource usage of the child as a whole, read from /proc at the time of asking: of the
/// pihost process (all its threads), not of processes it started. CPU times have the
/// resolution of the kernel's clock tick (USER_HZ, usually 10 ms).
struct ResourceUsage {
  std::chrono::microseconds cpu_user{0};  ///< user CPU time since the child started
  std::chrono::microseconds cpu_sys{0};   ///< system CPU time since the child started
  std::int64_t rss_bytes = 0;             ///< resident set now (VmRSS)
  std::int64_t peak_rss_bytes = 0;        ///< highest resident set (VmHWM)
};

/// Where an isolator is in its life; see ProcessIsolator::state().
enum class State {
  ready,          ///< a child is running and takes calls
  no_child,       ///< no child right now: one is starting, or restarting after a backoff
  failed,         ///< restarts exhausted (or restart policy never): calls fail until reset()
  shutting_down,  ///< shutdown() is stopping the child
  shut_down,      ///< no more calls are accepted
};

/// One plugin host: a pihost child, supervised and replaced when it dies, running calls one
/// at a time in the order they were made. Thread-safe: see the file comment. The members that
/// wait for the I/O thread (invoke, get_data, shutdown) throw Error when called on it.
class ProcessIsolator {
 public:
  /// The type-erased completion handler async_invoke stores.
  using Handler = boost::asio::any_completion_handler<void(CallResult)>;

  /// Starts a child and waits for its handshake. Throws OptionsError for invalid options and
  /// StartError when no working child could be started (the message says why and where
  /// pihost was looked for), e.g. pihost not found, the requested containment or hardening
  /// not available here, a limit not enforceable under Options::require_limits, no handshake
  /// within Options::start_timeout, this process out of file descriptors (the message then
  /// says so, what a child needs and the fix). Blocks until the handshake; may be called from
  /// any thread.
  ///
  /// An isolator holds file descriptors in this process while it lives: 3 for its I/O thread
  /// and, for its child, 4 under the rlimit backend, up to 7 under cgroup v2 and up to 13
  /// under cgroup v1 (a child's channel, pidfd and output pipes, and its cgroup files), and
  /// up to 4 more while a child starts. docs/limits.md, "File descriptors", has the figures
  /// as measured.
  static std::unique_ptr<ProcessIsolator> create(Options options = {});

  /// Shuts down (see shutdown()) and releases everything. When run on the isolator's own I/O
  /// thread (the last owner let go inside one of its handlers), it starts the shutdown and
  /// returns at once; the I/O thread finishes it and releases everything itself. Elsewhere it
  /// blocks as shutdown() does.
  ~ProcessIsolator();
  ProcessIsolator(const ProcessIsolator&) = delete;
  ProcessIsolator& operator=(const ProcessIsolator&) = delete;

  /// Runs one call and blocks until it completes. Throws as async_invoke does.
  /// Must not be called from a completion handler or callback of this isolator (it would
  /// wait for itself): on the isolator's own I/O thread it throws Error.
  CallResult invoke(std::string library, std::string symbol, std::vector<std::string> args,
                    CallOptions options = {});
  /// The same, with the call as one Invocation (pass it with std::move to avoid a copy of
  /// large arguments).
  CallResult invoke(Invocation invocation);

  /// Queues one call; completes `token` with the CallResult. Any Asio completion token works:
  /// a callback `void(CallResult)`, `asio::use_future`, `asio::use_awaitable`, ... The
  /// pending call counts as work for the handler's associated executor. When the handler
  /// has a cancellation slot, emitting it cancels the call (`cancelled`): a queued call is
  /// dropped, a running call's child is killed and replaced. Throws Error when
  /// the call cannot be sent (more than 65,536 arguments, or a message larger than
  /// Options::max_frame_bytes) and ShutDownError after shutdown(); calls pending at shutdown
  /// complete with `shutdown`. Returns without waiting for the call; may be called from any
  /// thread, its own handlers included. An exception the handler throws is logged and ignored.
  template <class CompletionToken>
  auto async_invoke(Invocation invocation, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(CallResult)>(
        [this](auto handler, Invocation inv) { start_invoke(std::move(inv), Handler(std::move(handler))); },
        token, std::move(invocation));
  }

  /// Runs a program (see Command) in the child's box and blocks until it ends. The result is
  /// as for a method: `code` is its exit status, whatever it is (a program that ran and
  /// exited 3 is a successful call with code 3); `failure` is `crashed` with the signal that
  /// killed it, `timeout`, `memory_limit` (the OOM killer, where the backend has one),
  /// `cpu_limit`, `program_not_found` (the places tried are in the message), or
  /// `not_executable` (why: no permission, a directory, an unknown format, a missing ELF or
  /// #! interpreter). Its output lines are captured and attributed as a method's are; every
  /// process it started is killed when it ends, before the result is delivered. Throws Error
  /// for a Command that cannot be run (the message names the field and the fix) and as
  /// invoke() does; on the isolator's own I/O thread it throws Error.
  CallResult run(Command command);

  /// As run(), completing `token` (any Asio completion token) with the CallResult; queued
  /// and cancelled as async_invoke's calls are. Throws as run() does, without waiting.
  template <class CompletionToken>
  auto async_run(Command command, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(CallResult)>(
        [this](auto handler, Command c) { start_run(std::move(c), Handler(std::move(handler))); }, token,
        std::move(command));
  }

  /// Stores `value` (any bytes) under `key` in the child, where plugins read it with
  /// isolator/plugin.hpp, and keeps a copy that is replayed into every new child. Ordered
  /// with calls: a call made after set_data sees the value. Throws Error when the value does
  /// not fit in Options::max_frame_bytes (with its key), ShutDownError after shutdown().
  /// Returns without waiting for the child; may be called from any thread.
  void set_data(const std::string& key, std::string value);

  /// The value under `key` in the child, as last set by the host or a plugin, or nothing.
  /// When no child is running, the host's copy (what the next child will start with). A
  /// value too large to send back is reported as nothing (pihost says so on its stderr).
  /// Blocks until the child answers; throws Error on the isolator's own I/O thread or when
  /// the key does not fit in Options::max_frame_bytes, ShutDownError after shutdown(). When
  /// the child dies or the isolator shuts down before answering, the result is nothing.
  std::optional<std::string> get_data(const std::string& key);

  /// The running child's pid, or 0 when there is none. A snapshot; any thread, never blocks.
  int pid() const;

  /// The isolator's state now (a snapshot: another thread may change it at once). Any
  /// thread; never blocks.
  State state() const;

  /// The backend that confines the child: "cgroup-v2", "cgroup-v1" or "rlimit". Chosen by
  /// create() and fixed for the isolator's life; any thread.
  std::string containment() const;

  /// The child's usage as a whole; all zero when there is no child. Reads /proc on the
  /// calling thread (any thread); never throws.
  ResourceUsage resource_usage() const;

  /// The isolator's I/O executor (where its callbacks run by default). Any thread; the
  /// executor must not be used after the isolator is destroyed.
  boost::asio::any_io_executor get_executor() const;

  /// Leaves the failed state: forgets past restarts and starts a fresh child. Does nothing
  /// when the isolator is not failed. Throws ShutDownError after shutdown(). Returns at once:
  /// state() is then `no_child` until the child has started on the I/O thread (watch state()
  /// or on_event), and calls made from now on wait for it; any thread.
  void reset();

  /// Stops the child by Options::shutdown, completes every pending call with `shutdown` (a
  /// running call that finishes during the graceful stop keeps its result), and removes the
  /// private directory. Blocks until done: the child gets the timeouts of
  /// Options::shutdown before SIGTERM and SIGKILL. Idempotent; concurrent callers all wait
  /// for the one shutdown. Throws Error on the isolator's own I/O thread.
  void shutdown();

  class Impl;

 private:
  explicit ProcessIsolator(std::unique_ptr<Impl> impl);
  void start_invoke(Invocation invocation, Handler handler);
  void start_run(Command command, Handler handler);

  std::unique_ptr<Impl> impl_;
};

}  // namespace isolator
