// One pihost process and the channel to it, from spawn to reaping. Lives on the isolator's
// I/O thread: every member function must be called there, and every listener callback is
// made there.
//
// Start: bind the socket in the private directory, spawn pihost, accept the one connection
// whose SO_PEERCRED names the spawned pid and pihost's uid (ours, or the sandbox user's when
// the host is root; others are refused and logged), unlink the socket path, and wait for a
// Hello with our protocol version and pihost's pid as pihost sees it (2 in the sandbox's PID
// namespace), all within the start timeout.
//
// End: the child is watched through its pidfd, never with waitpid(-1) or a SIGCHLD handler.
// When it dies, its status is read without reaping it (the zombie keeps its pid, and so its
// process group id, reserved), the rest of its process group is killed, and only then is it
// reaped. Nothing is ever signalled by a pid that could have been reused.
#pragma once

#include "containment/backend.hpp"
#include "hardening.hpp"
#include "output_pipe.hpp"
#include "platform/child_process.hpp"
#include "read_turn.hpp"
#include "sandbox.hpp"

#include <isolator/wire/frame_reader.hpp>
#include <isolator/wire/protocol.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace isolator::detail {

struct ChildSpec {
  std::filesystem::path pihost;
  std::filesystem::path directory;  ///< the private directory (socket, working directory)
  std::vector<std::string> environment;
  std::chrono::milliseconds start_timeout{};
  std::size_t max_frame_bytes = 0;
  std::size_t max_result_bytes = 0;  ///< result_bytes_cap(options), passed to pihost
  bool allow_core_dumps = false;  // Options::allow_core_dumps
  /// pihost's crash reporter's time (crash_report_time(options)); none: no crash handler
  /// (Options::crash_reports off, or Options::allow_core_dumps on).
  std::optional<std::chrono::milliseconds> crash_report_time;
  HardeningPlan hardening;        // Options::hardening, planned once per isolator
  std::size_t max_line_bytes = 0;
  Backend* backend = nullptr;  ///< confines the child; outlives it
  Limits limits;               ///< the limits the backend enforces (only those)
  SandboxPlan sandbox;         ///< Options::protection, planned once per isolator
};

class Child final : public ChildProcess, public std::enable_shared_from_this<Child> {
 public:
  /// Spawns pihost and begins the handshake. Throws StartError when it cannot even spawn;
  /// later failures arrive as on_child_start_failed.
  static std::shared_ptr<Child> start(const boost::asio::any_io_executor& executor, const ChildSpec& spec,
                                      ChildListener& listener);

  Child(const boost::asio::any_io_executor& executor, const ChildSpec& spec, ChildListener& listener);
  /// Unlinks the channel's socket file, if it is still there.
  ~Child() override;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  int pid() const override { return pid_; }
  /// True while the child has said Hello and is not exited, broken or being killed: only
  /// then may a call be sent to it.
  bool ready() const override { return ready_ && !doomed_; }
  bool exited() const override { return exited_; }

  /// Queues an encoded frame (wire::encode_frame) for the child. Dropped silently once the
  /// channel is closed.
  void send(std::string frame) override;
  /// The same for a frame the caller keeps too (a call's Invoke, sent again on a retry).
  void send(std::shared_ptr<const std::string> frame) override;
  std::size_t unsent_bytes() const override { return unsent_bytes_; }

  /// The child broke the protocol as seen by the caller (an unexpected reply, say): reports
  /// on_child_broken (or a start failure) and kills it.
  void fail_protocol(std::string reason) override;

  /// Reads what the child already wrote to stdout/stderr, then emits pending partial lines.
  void collect_output() override;

  /// Ends the conversation: pihost exits when it reads end-of-file.
  void close_channel() override;

  /// Sends `signal` to pihost (through its pidfd) and to its process group; SIGKILL also
  /// kills everything in its box (its cgroup). The child no longer counts as ready.
  void kill(int signal);
  /// ask: SIGTERM; force: SIGKILL, and everything in the box.
  void stop(StopSignal how) override;

  /// The child's confinement (per-call baselines, OOM and CPU figures). Valid until the
  /// child's exit has been reported; the box (and its cgroup) is removed right after.
  Box& box() override { return *box_; }
  void clear_library_links() override;

 private:
  void spawn(const ChildSpec& spec);
  void listen();
  void remove_links_directory();
  void watch_exit();
  void accept();
  bool accept_peer(int fd);
  void read_frames();
  /// Reads and handles what the socket holds, until the turn is over; false once it is
  /// closed (or the child broke the protocol).
  bool pull_channel(ReadTurn turn);
  void on_channel_closed();
  void on_bytes(const char* data, std::size_t size);
  void on_message(wire::Message message);
  void on_start_timeout();
  void fail_start(std::string message);
  void write_next();
  void on_exit();
  ExitStatus reap();

  boost::asio::any_io_executor executor_;
  ChildListener& listener_;
  std::filesystem::path socket_path_;
  std::filesystem::path links_directory_;  // this child's own (make_links_directory)
  std::filesystem::path pihost_;
  std::chrono::milliseconds start_timeout_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::steady_timer timer_;  // start timeout, then the wait for exit after EOF
  std::unique_ptr<LinuxBox> box_;    // created before the spawn, removed once the exit is reported
  boost::asio::posix::stream_descriptor pidfd_;  // readable once the child has exited
  UniqueFd init_pidfd_;                          // sandboxed: its PID namespace's init, reaped with pihost
  std::shared_ptr<OutputPipe> stdout_;
  std::shared_ptr<OutputPipe> stderr_;
  wire::FrameReader reader_;
  std::array<char, 65536> read_buffer_{};
  std::deque<std::shared_ptr<const std::string>> write_queue_;
  std::size_t unsent_bytes_ = 0;  // in write_queue_
  std::vector<std::string> start_stderr_;  // stderr lines before the handshake, for errors
  std::vector<std::string> refused_peers_;
  std::string accept_error_;  // why accepting failed, for the start error
  uid_t peer_uid_ = 0;        // the uid pihost runs as (the sandbox user when the host is root)
  bool sandboxed_ = false;    // pihost is PID 2 of its own PID namespace
  int pid_ = -1;
  bool ready_ = false;
  bool doomed_ = false;  // exited, broken, failed to start, or signalled by the host
  bool start_failed_ = false;
  bool broken_ = false;
  bool exited_ = false;
  bool channel_closed_ = false;  // pihost closed its end (or the socket failed)
};

}  // namespace isolator::detail
