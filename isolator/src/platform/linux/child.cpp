#include "child.hpp"

#include "log.hpp"
#include "private_directory.hpp"
#include "spawn.hpp"

#include <isolator/errors.hpp>
#include <isolator/wire/codec.hpp>
#include <isolator/wire/pihost_contract.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <random>

namespace isolator::detail {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// After the child closes the channel, how long it has to exit before it is killed.
constexpr std::chrono::milliseconds exit_after_eof_grace{2000};
// How many of the child's stderr lines before its handshake a start error quotes.
constexpr std::size_t start_stderr_lines = 10;
// pihost's pid in a sandbox's PID namespace: its init is 1, and pihost is started next.
constexpr int sandboxed_pihost_pid = 2;

std::string describe(const ExitStatus& status) {
  if (status.signal) return "was killed by " + signal_name(*status.signal);
  if (status.exit_code) return "exited with code " + std::to_string(*status.exit_code);
  return "ended with an unknown status";
}

// A name nobody can guess in advance, so that a plugin (which may write in the private
// directory: it runs as the same user) cannot squat the next child's socket path.
std::string random_suffix() {
  std::random_device random;
  std::uniform_int_distribution<std::uint64_t> any;
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(any(random)));
  return text;
}

bool would_block(const error_code& error) {
  return error == asio::error::would_block || error == asio::error::try_again;
}

}  // namespace

std::shared_ptr<Child> Child::start(const asio::any_io_executor& executor, const ChildSpec& spec,
                                    ChildListener& listener) {
  auto child = std::make_shared<Child>(executor, spec, listener);
  child->spawn(spec);
  return child;
}

Child::Child(const asio::any_io_executor& executor, const ChildSpec& spec, ChildListener& listener)
    : executor_(executor),
      listener_(listener),
      socket_path_(spec.directory / ("channel-" + random_suffix() + ".sock")),
      links_directory_(spec.directory / ("libraries-" + random_suffix())),
      pihost_(spec.pihost),
      start_timeout_(spec.start_timeout),
      acceptor_(executor),
      socket_(executor),
      timer_(executor),
      pidfd_(executor),
      reader_(spec.max_frame_bytes) {}

Child::~Child() {
  // A start that failed after listen() never reaches on_exit, which unlinks the socket file
  // otherwise; unlinked here, it leaves the private directory removable without opening it
  // (no descriptor may be left when the start failed for want of one).
  error_code ignored;
  std::filesystem::remove(socket_path_, ignored);
  remove_links_directory();
}

void Child::remove_links_directory() {
  // Best effort: what is left goes with the private directory at shutdown. rmdir first: an
  // empty directory (a start that failed, perhaps for want of descriptors) needs none.
  if (::rmdir(links_directory_.c_str()) == 0 || errno == ENOENT) return;
  std::error_code ignored;
  std::filesystem::remove_all(links_directory_, ignored);
}

void Child::clear_library_links() {
  std::error_code error;
  std::filesystem::directory_iterator entries(links_directory_, error);
  if (error == std::errc::no_such_file_or_directory) return;  // no links directory (a ':' in the path)
  for (; !error && entries != std::filesystem::directory_iterator(); entries.increment(error)) {
    std::error_code removing;
    std::filesystem::remove_all(entries->path(), removing);  // never follows a link
    if (removing) {
      throw StartError("cannot empty the spare's library links directory (" + entries->path().string() +
                       "): " + removing.message());
    }
  }
  if (error) {
    throw StartError("cannot read the spare's library links directory " + links_directory_.string() + ": " +
                     error.message());
  }
}

namespace {

// The child's working directory, `directory`/work, owned by the user pihost runs as. An
// earlier child's plugin ran as that user with "work" as its working directory, so it may
// have replaced it with a symlink (to anywhere) or a file: what is not a directory of that
// user is removed, never followed, and made again.
void make_working_directory(const std::filesystem::path& workdir, uid_t owner, gid_t group) {
  const auto fail = [&](const char* what) {
    throw StartError("cannot " + std::string(what) + " the child's working directory " + workdir.string() +
                     ": " + std::strerror(errno));
  };
  const auto make = [&] {
    if (::mkdir(workdir.c_str(), 0700) != 0) return false;
    if (owner != ::geteuid() && ::chown(workdir.c_str(), owner, group) != 0) fail("hand over");
    return true;
  };
  if (make()) return;
  if (errno != EEXIST) fail("create");
  struct stat st {};
  if (::lstat(workdir.c_str(), &st) != 0) fail("inspect");
  if (S_ISDIR(st.st_mode) && st.st_uid == owner) {
    if ((st.st_mode & 07777) != 0700 && ::chmod(workdir.c_str(), 0700) != 0) fail("restore the mode of");
    return;
  }
  log().warn("{} was replaced by something that is not a directory of this user (a plugin's doing?); "
             "removing it, without following it",
             workdir.string());
  if (::unlink(workdir.c_str()) != 0 && ::rmdir(workdir.c_str()) != 0) fail("remove what replaced");
  if (!make()) fail("create");
}

// The directory pihost links the libraries of the plugins into (wire::flag_library_links),
// `directory`/libraries-<random>, one for each child: a link another child made must not
// decide what this one loads, and a child starting (a spare, a recycle's replacement) must
// not touch the directory of one still taking calls. A fresh name, so mkdir makes it empty
// (an entry already there, which nobody could name in advance, fails the start). Owned by the
// user pihost runs as; removed at the child's exit.
void make_links_directory(const std::filesystem::path& links, uid_t owner, gid_t group) {
  if (::mkdir(links.c_str(), 0700) != 0 || (owner != ::geteuid() && ::chown(links.c_str(), owner, group) != 0)) {
    const int failure = errno;
    throw StartError("cannot make the child's library links directory " + links.string() + ": " +
                     std::strerror(failure) + out_of_descriptors_hint(failure));
  }
}

// `environment` with `links` in front of LD_LIBRARY_PATH (which pihost takes out again).
void put_links_first(std::vector<std::string>& environment, const std::filesystem::path& links) {
  const std::string prefix = std::string(wire::library_path_variable) + "=";
  for (auto& entry : environment) {
    if (entry.rfind(prefix, 0) == 0) {
      entry = prefix + links.string() + ":" + entry.substr(prefix.size());
      return;
    }
  }
  environment.push_back(prefix + links.string());
}

}  // namespace

void Child::spawn(const ChildSpec& spec) {
  sandboxed_ = spec.sandbox.enabled;
  peer_uid_ = sandbox_child_uid(spec.sandbox);
  const auto workdir = spec.directory / PrivateDirectory::working_directory_name;
  make_working_directory(workdir, peer_uid_, sandbox_child_gid(spec.sandbox));
  listen();
  if (peer_uid_ != ::geteuid() &&
      ::chown(socket_path_.c_str(), peer_uid_, sandbox_child_gid(spec.sandbox)) != 0) {
    throw StartError("cannot hand the channel " + socket_path_.string() + " to uid " +
                     std::to_string(peer_uid_) + ": " + std::strerror(errno));
  }

  SpawnRequest request;
  request.executable = spec.pihost;
  request.args = {std::string(wire::flag_channel), socket_path_.string()};
  if (sandboxed_) {
    // The host has no pid in pihost's PID namespace.
    request.args.emplace_back(wire::flag_host_outside);
  } else {
    request.args.insert(request.args.end(), {std::string(wire::flag_host_pid), std::to_string(::getpid())});
  }
  request.args.insert(request.args.end(),
                      {std::string(wire::flag_max_frame_bytes), std::to_string(spec.max_frame_bytes),
                       std::string(wire::flag_max_result_bytes), std::to_string(spec.max_result_bytes)});
  if (spec.allow_core_dumps) request.args.emplace_back(wire::flag_core_dumps);
  if (spec.crash_report_time) {
    request.args.insert(request.args.end(), {std::string(wire::flag_crash_report_ms),
                                             std::to_string(spec.crash_report_time->count())});
  } else {
    request.args.emplace_back(wire::flag_no_crash_reports);
  }
  request.environment = spec.environment;
  // A path with ':' cannot be one entry of LD_LIBRARY_PATH: dependencies are then found only
  // where the system looks (the private directory's base, TMPDIR, would have to hold one).
  if (spec.directory.native().find(':') == std::string::npos) {
    make_links_directory(links_directory_, peer_uid_, sandbox_child_gid(spec.sandbox));
    request.args.insert(request.args.end(), {std::string(wire::flag_library_links), links_directory_.string()});
    put_links_first(request.environment, links_directory_);
  } else {
    log().warn("the private directory {} holds a ':', so it cannot be in LD_LIBRARY_PATH: a plugin's libraries "
               "are found only where the system looks (set TMPDIR to a directory without one)",
               spec.directory.string());
  }
  request.working_directory = workdir;
  if (!spec.limits.cpu_affinity.empty()) {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    for (int cpu : spec.limits.cpu_affinity) CPU_SET(cpu, &cpus);
    request.affinity = cpus;
  }
  box_ = spec.backend->make_box(spec.limits);
  box_->prepare(request);
  if (!spec.allow_core_dumps) request.rlimits.push_back({RLIMIT_CORE, 0});
  request.hardening = spec.hardening;
  if (sandboxed_) request.sandbox = &spec.sandbox;
  SpawnedProcess spawned = spawn_process(request);
  pid_ = spawned.pid;
  box_->adopt(pid_);
  pidfd_.assign(spawned.pidfd.release());
  init_pidfd_ = std::move(spawned.init_pidfd);

  const std::weak_ptr<Child> weak = weak_from_this();
  auto on_line = [weak](OutputStream stream, std::string line) {
    auto self = weak.lock();
    if (!self) return;
    if (!self->ready_ && stream == OutputStream::err) {
      auto& kept = self->start_stderr_;
      if (kept.size() == start_stderr_lines) kept.erase(kept.begin());
      kept.push_back(line);
    }
    self->listener_.on_child_output(*self, stream, std::move(line));
  };
  stdout_ = std::make_shared<OutputPipe>(executor_, std::move(spawned.stdout_read), OutputStream::out,
                                         spec.max_line_bytes, on_line);
  stderr_ = std::make_shared<OutputPipe>(executor_, std::move(spawned.stderr_read), OutputStream::err,
                                         spec.max_line_bytes, on_line);
  stdout_->start();
  stderr_->start();
  watch_exit();

  timer_.expires_after(start_timeout_);
  timer_.async_wait([self = shared_from_this()](error_code timer_error) {
    if (!timer_error) self->on_start_timeout();
  });
  accept();
}

void Child::listen() {
  if (socket_path_.native().size() >= sizeof(sockaddr_un::sun_path)) {
    throw StartError("the channel path " + socket_path_.string() + " is " +
                     std::to_string(socket_path_.native().size()) +
                     " bytes long, more than a Unix socket path may be (" +
                     std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                     "); set TMPDIR or XDG_RUNTIME_DIR to a shorter directory");
  }
  error_code error;
  // Close-on-exec from birth, so that a process the application spawns meanwhile never
  // inherits it (Asio would create it without SOCK_CLOEXEC).
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    const int failure = errno;
    throw StartError(std::string("cannot create a Unix socket: ") + std::strerror(failure) +
                     out_of_descriptors_hint(failure));
  }
  acceptor_.assign(asio::local::stream_protocol(), fd, error);
  if (!error) acceptor_.bind(socket_path_.string(), error);
  if (!error) acceptor_.listen(4, error);
  if (error) {
    throw StartError("cannot listen on " + socket_path_.string() + ": " + error.message());
  }
}

void Child::watch_exit() {
  pidfd_.async_wait(asio::posix::stream_descriptor::wait_read, [self = shared_from_this()](error_code error) {
    if (error == asio::error::operation_aborted) return;
    self->on_exit();
  });
}

void Child::accept() {
  acceptor_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](error_code error) {
    if (error || self->exited_) return;  // closed: the start is over one way or another
    const int fd = ::accept4(self->acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED) {
        self->accept();
        return;
      }
      const int failure = errno;
      self->accept_error_ = std::string("cannot accept pihost's connection: ") + std::strerror(failure) +
                            out_of_descriptors_hint(failure);
      self->fail_protocol(self->accept_error_);
      return;
    }
    if (!self->accept_peer(fd)) {
      ::close(fd);
      self->accept();
      return;
    }
    error_code ignored;
    self->socket_.assign(asio::local::stream_protocol(), fd, ignored);
    // Asio must know: its reads then return would_block instead of polling until data comes.
    self->socket_.non_blocking(true, ignored);
    self->acceptor_.close(ignored);
    // Nobody else can connect once the path is gone.
    std::filesystem::remove(self->socket_path_, ignored);
    self->read_frames();
  });
}

bool Child::accept_peer(int fd) {
  ucred credentials{};
  socklen_t size = sizeof(credentials);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
    refused_peers_.push_back(std::string("a peer whose credentials could not be read: ") +
                             std::strerror(errno));
    return false;
  }
  if (credentials.pid == pid_ && credentials.uid == peer_uid_) return true;
  refused_peers_.push_back("pid " + std::to_string(credentials.pid) + " uid " +
                           std::to_string(credentials.uid));
  log().warn("refused a connection to {} from pid {} uid {}: only pihost pid {} uid {} may connect",
             socket_path_.string(), credentials.pid, credentials.uid, pid_, peer_uid_);
  return false;
}

void Child::read_frames() {
  // Wait, then read in the handler: no bytes are ever held by the reactor, so the pipes'
  // handlers and on_exit can pull the socket themselves and see everything sent so far.
  socket_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](error_code error) {
    if (error || self->exited_) return;
    // A turn at a time: a child that sends frames without pause (Pongs are taken at any
    // time) must not keep the thread from its timers and its other isolators.
    if (self->pull_channel(ReadTurn::of_a_wake_up())) self->read_frames();
  });
}

bool Child::pull_channel(ReadTurn turn) {
  if (channel_closed_ || !socket_.is_open()) return false;
  for (std::size_t room = turn.room(); !broken_ && room > 0; room = turn.room()) {
    error_code error;
    const std::size_t n = socket_.read_some(asio::buffer(read_buffer_.data(), std::min(read_buffer_.size(), room)), error);
    if (would_block(error)) return true;
    if (error) {
      channel_closed_ = true;
      if (!exited_) on_channel_closed();
      return false;
    }
    on_bytes(read_buffer_.data(), n);
    turn.took(n);
  }
  return !broken_;
}

void Child::on_channel_closed() {
  if (reader_.mid_frame()) {
    fail_protocol("pihost closed the channel inside a frame");
  } else if (ready_) {
    // Most likely it is exiting; give it a moment, then stop waiting.
    timer_.expires_after(exit_after_eof_grace);
    timer_.async_wait([self = shared_from_this()](error_code timer_error) {
      if (!timer_error && !self->exited_) {
        self->fail_protocol("pihost closed the channel but did not exit");
      }
    });
  }
}

void Child::on_bytes(const char* data, std::size_t size) {
  try {
    reader_.feed(data, size);
    while (auto body = reader_.next()) {
      on_message(wire::decode(*body));
      if (broken_) return;
    }
  } catch (const wire::ProtocolError& e) {
    fail_protocol(std::string("pihost broke the protocol: ") + e.what());
  }
}

void Child::on_message(wire::Message message) {
  if (ready_) {
    if (std::holds_alternative<wire::Hello>(message)) {
      fail_protocol("pihost sent a second Hello");
      return;
    }
    listener_.on_child_message(*this, std::move(message));
    return;
  }
  if (start_failed_) return;  // a Hello that arrives after the start was given up
  const auto* hello = std::get_if<wire::Hello>(&message);
  if (hello == nullptr) {
    fail_protocol("pihost's first message was " + std::string(wire::message_name(message)) + ", not Hello");
  } else if (hello->version != wire::protocol_version) {
    fail_protocol("pihost " + pihost_.string() + " speaks protocol version " +
                  std::to_string(hello->version) + ", this library speaks version " +
                  std::to_string(wire::protocol_version) +
                  "; use the pihost built with this library (Options::pihost_path, ISOLATOR_PIHOST)");
  } else if (const int own_pid = sandboxed_ ? sandboxed_pihost_pid : pid_; hello->pid != own_pid) {
    fail_protocol("pihost's Hello names pid " + std::to_string(hello->pid) + ", but its pid is " +
                  std::to_string(own_pid) + (sandboxed_ ? " in its PID namespace" : ""));
  } else {
    ready_ = true;
    timer_.cancel();
    listener_.on_child_ready(*this);
  }
}

void Child::on_start_timeout() {
  if (ready_ || exited_) return;
  std::string message = "pihost (pid " + std::to_string(pid_) + ") did not complete its handshake within " +
                        std::to_string(start_timeout_.count()) + " ms";
  if (!refused_peers_.empty()) {
    message += "; connections refused because they did not come from pihost:";
    for (const auto& peer : refused_peers_) message += " [" + peer + "]";
  }
  fail_start(std::move(message));
  kill(SIGKILL);
}

void Child::fail_start(std::string message) {
  if (ready_ || start_failed_) return;
  start_failed_ = true;
  doomed_ = true;
  for (const auto& line : start_stderr_) message += "\n  pihost stderr: " + line;
  listener_.on_child_start_failed(*this, std::move(message));
}

void Child::fail_protocol(std::string reason) {
  if (broken_ || exited_) return;
  broken_ = true;
  doomed_ = true;
  if (ready_) {
    listener_.on_child_broken(*this, reason);
  } else {
    fail_start(reason);
  }
  kill(SIGKILL);
}

void Child::send(std::string frame) { send(std::make_shared<const std::string>(std::move(frame))); }

void Child::send(std::shared_ptr<const std::string> frame) {
  if (!socket_.is_open() || doomed_ || exited_) return;
  unsent_bytes_ += frame->size();
  write_queue_.push_back(std::move(frame));
  if (write_queue_.size() == 1) write_next();
}

void Child::write_next() {
  asio::async_write(socket_, asio::buffer(*write_queue_.front()),
                    [self = shared_from_this()](error_code error, std::size_t) {
                      if (error) return;  // the read side reports what happened
                      self->unsent_bytes_ -= self->write_queue_.front()->size();
                      self->write_queue_.pop_front();
                      if (!self->write_queue_.empty()) self->write_next();
                    });
}

void Child::collect_output() {
  stdout_->drain();
  stderr_->drain();
  stdout_->flush_partial();
  stderr_->flush_partial();
}

void Child::close_channel() {
  if (!ready_) {
    kill(SIGKILL);  // still starting: there is no conversation to end
    return;
  }
  error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
}

void Child::kill(int signal) {
  if (exited_ || !pidfd_.is_open()) return;
  doomed_ = true;
  // The pidfd cannot name another process. The group id is pihost's pid, reserved until
  // pihost is reaped, and pihost leads its own session, so the group holds the processes it
  // started that stayed in it.
  ::syscall(SYS_pidfd_send_signal, pidfd_.native_handle(), signal, nullptr, 0);
  ::kill(-pid_, signal);
  if (signal == SIGKILL) box_->kill_all();
}

void Child::stop(StopSignal how) { kill(how == StopSignal::ask ? SIGTERM : SIGKILL); }

ExitStatus Child::reap() {
  siginfo_t info{};
  const int pidfd = pidfd_.native_handle();
  // Read the status but leave the zombie: while it exists, no process can take its pid, so
  // the group kill below cannot hit a stranger.
  if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOWAIT) != 0) {
    log().error("cannot read the exit status of pihost pid {}: {} (is SIGCHLD ignored, or "
                "does the application reap children it did not start?)",
                pid_, std::strerror(errno));
    box_->kill_all();
    reap_init(init_pidfd_);
    return {};
  }
  ::kill(-pid_, SIGKILL);  // what the plugin left running in pihost's process group
  box_->kill_all();        // and in its cgroup, wherever it went
  siginfo_t reaped{};
  ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &reaped, WEXITED);
  // Then its PID namespace's init, whose end kills what is left there. Not before: the init
  // cannot finish exiting while pihost, a process of its namespace, is an unreaped zombie.
  reap_init(init_pidfd_);
  if (info.si_code == CLD_EXITED) return ExitStatus{info.si_status, std::nullopt};
  return ExitStatus{std::nullopt, info.si_status};
}

void Child::on_exit() {
  const ExitStatus status = reap();
  exited_ = true;
  doomed_ = true;
  timer_.cancel();
  error_code ignored;
  // Whatever the child sent before it died is still in the socket: read it all (and no
  // more: a process the plugin gave the socket to may still be writing).
  if (socket_.is_open()) pull_channel(ReadTurn::of_what_is_in(socket_.native_handle()));
  collect_output();
  stdout_->close();
  stderr_->close();
  socket_.close(ignored);
  acceptor_.close(ignored);
  pidfd_.close(ignored);
  std::filesystem::remove(socket_path_, ignored);
  remove_links_directory();  // reaped: nothing of this child loads from it any more
  if (!ready_) {
    fail_start("pihost (pid " + std::to_string(pid_) + ") " + describe(status) +
               " before completing its handshake");
  }
  log().debug("pihost pid {} {}", pid_, describe(status));
  listener_.on_child_exit(*this, status);
  // Remove the cgroup now, not whenever the last handler holding this child lets go.
  box_.reset();
}

}  // namespace isolator::detail
