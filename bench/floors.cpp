#include "floors.hpp"

#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

extern char** environ;

namespace bench {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void pin_to(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) fail("sched_setaffinity");
}

bool read_exactly(int fd, char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, const char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

const char* name(Placement placement) {
  switch (placement) {
    case Placement::same_cpu: return "same_cpu";
    case Placement::cross_cpu: return "cross_cpu";
    case Placement::scheduler: return "scheduler";
  }
  return "?";
}

int child_cpu(Placement placement) {
  switch (placement) {
    case Placement::same_cpu: return 0;
    case Placement::cross_cpu: return 1;
    case Placement::scheduler: return -1;
  }
  return -1;
}

HostPin::HostPin(Placement placement) {
  ::pthread_getaffinity_np(::pthread_self(), sizeof(previous_), &previous_);
  if (placement != Placement::scheduler) pin_to(0);
}

HostPin::~HostPin() { ::pthread_setaffinity_np(::pthread_self(), sizeof(previous_), &previous_); }

EchoChild::EchoChild(Placement placement, std::size_t message_bytes, std::size_t reply_bytes)
    : message_(message_bytes, 'm'), reply_(reply_bytes == 0 ? message_bytes : reply_bytes, 'r') {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) fail("socketpair");
  pid_ = ::fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) {  // the child: only system calls from here on
    ::close(fds[0]);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (const int cpu = child_cpu(placement); cpu >= 0) {
      CPU_SET(cpu, &set);
      ::sched_setaffinity(0, sizeof(set), &set);
    }
    std::string in(message_.size(), '\0');
    while (read_exactly(fds[1], in.data(), in.size()) && write_all(fds[1], reply_.data(), reply_.size())) {
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  fd_ = fds[0];
}

EchoChild::~EchoChild() {
  ::close(fd_);  // the child reads end-of-file and exits
  int status = 0;
  ::waitpid(pid_, &status, 0);  // our own child
}

void EchoChild::round_trip() {
  if (!write_all(fd_, message_.data(), message_.size())) fail("write to the echo child");
  if (!read_exactly(fd_, reply_.data(), reply_.size())) fail("read from the echo child");
}

void run_tiny_child(const std::string& tiny_child, const std::string& plugin) {
  char* argv[] = {const_cast<char*>(tiny_child.c_str()), const_cast<char*>(plugin.c_str()), nullptr};
  pid_t pid = 0;
  if (const int error = ::posix_spawn(&pid, tiny_child.c_str(), nullptr, nullptr, argv, environ);
      error != 0) {
    errno = error;
    fail("posix_spawn " + tiny_child);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) fail("waitpid");  // our own child
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
    throw std::runtime_error(tiny_child + " could not call " + plugin);
  }
}

}  // namespace bench
