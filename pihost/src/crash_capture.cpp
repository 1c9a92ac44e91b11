#include "crash_capture.hpp"

#include <isolator/wire/pihost_contract.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <unwind.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <string_view>

extern char** environ;

namespace pihost::crash {
namespace {

// Big enough for the unwinder, which keeps a few KiB of state per step.
constexpr std::size_t alternate_stack_bytes = 128 * 1024;
// How long the handler waits for another thread to finish writing a frame to the channel.
constexpr int channel_wait_ms = 1000;
// The unwinder starts inside the handler: this many frames (the handler's, a sanitizer's
// signal wrapper, the kernel's trampoline) may come before the crashed one.
constexpr int max_frames_before_the_crash = 32;
// pihost's own descriptors sit at 100 or above (channel.cpp, host_watch.cpp).
constexpr int descriptor_floor = 100;

// Everything the handler uses is here, set up by arm() before it installs the handler (the
// host watch thread runs already, but never reads it).
Settings settings;
pid_t armed_process = 0;                   // pihost's pid; a process it forks is another
int own_executable = -1;                   // pihost, opened at arm(): the reporter's image
char own_path[4096] = {};                  // its path, for frames in pihost itself
constexpr std::size_t max_environment = 256;
constexpr std::size_t environment_bytes = 32 * 1024;
char environment_text[environment_bytes];  // the environment as pihost started, for the reporter
char* environment[max_environment + 1] = {};
Capture capture;
char hex_argument[sizeof(Capture) * 2 + 1];
char number_arguments[3][24];
const void* seen_maps[Capture::max_modules];

std::atomic<pid_t> crashing_thread{0};  // the thread whose crash is being reported
std::atomic<pid_t> sending_thread{0};   // the thread writing a frame to the channel now

pid_t thread_id() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

void sleep_ms(long ms) {
  timespec pause{0, ms * 1'000'000};
  while (::nanosleep(&pause, &pause) != 0 && errno == EINTR) {
  }
}

// The process ends of `signal`, as without the handler: the default action, unblocked, sent
// to this thread, which takes it at once.
void die_of(int signal) {
  restore_default_action(signal);
  ::syscall(SYS_tgkill, ::getpid(), thread_id(), signal);
}

std::size_t copy_text(char* to, std::size_t room, const char* from) {
  std::size_t n = 0;
  while (from[n] != '\0' && n + 1 < room) {
    to[n] = from[n];
    ++n;
  }
  to[n] = '\0';
  return n;
}

void format_number(char* to, std::uint64_t value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (int i = 0; i < n; ++i) to[i] = digits[n - 1 - i];
  to[n] = '\0';
}

// The module (library) holding `address`, added to the capture when first seen.
std::uint32_t module_of(std::uintptr_t address) {
  dl_find_object found{};
  if (_dl_find_object(reinterpret_cast<void*>(address), &found) != 0 || found.dlfo_link_map == nullptr) {
    return Capture::no_module;
  }
  const link_map* map = found.dlfo_link_map;
  for (std::uint32_t i = 0; i < capture.module_count; ++i) {
    if (seen_maps[i] == map) return i;
  }
  if (capture.module_count == Capture::max_modules) return Capture::no_module;
  const char* path = map->l_name != nullptr && map->l_name[0] != '\0' ? map->l_name : own_path;
  const std::size_t room = Capture::max_path_bytes - capture.path_bytes;
  if (room < 2) return Capture::no_module;
  const std::uint32_t index = capture.module_count++;
  seen_maps[index] = map;
  capture.modules[index].base = map->l_addr;
  capture.modules[index].path_at = capture.path_bytes;
  capture.path_bytes += static_cast<std::uint32_t>(copy_text(capture.paths + capture.path_bytes, room, path)) + 1;
  return index;
}

struct Unwinding {
  std::uintptr_t crashed_pc = 0;
  std::uintptr_t stack_pointer = 0;  // x86-64: where a call pushed its return address
  int before_the_crash = 0;
};

_Unwind_Reason_Code collect_frame(_Unwind_Context* context, void* argument) {
  auto& state = *static_cast<Unwinding*>(argument);
  int before_instruction = 0;
  const std::uintptr_t pc = _Unwind_GetIPInfo(context, &before_instruction);
  if (capture.unwound == 0) {
    // Still in the handler's own frames: the crashed one is where the signal came.
    if (pc != state.crashed_pc || before_instruction == 0) {
      return ++state.before_the_crash > max_frames_before_the_crash ? _URC_END_OF_STACK : _URC_NO_REASON;
    }
    capture.unwound = 1;
  }
  if (pc == 0) return _URC_END_OF_STACK;
  auto& frame = capture.frames[capture.frame_count++];
  frame.pc = pc;
  frame.exact = before_instruction != 0 ? 1 : 0;
  frame.module = module_of(before_instruction != 0 ? pc : pc - 1);
  return capture.frame_count == isolator::wire::max_stack_frames ? _URC_END_OF_STACK : _URC_NO_REASON;
}

_Unwind_Reason_Code count_frame(_Unwind_Context*, void*) { return _URC_NO_REASON; }

// Waits (bounded) until no other thread writes to the channel, after which none will: the
// channel is the reporter's. False when it stays busy, or this thread was writing (the
// crash came in the middle of a frame).
bool take_channel(pid_t self) {
  for (int waited = 0; waited < channel_wait_ms; ++waited) {
    const pid_t writer = sending_thread.load();
    if (writer == 0) return true;
    if (writer == self) return false;
    sleep_ms(1);
  }
  return false;
}

void on_crash(int signal, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  if (::getpid() != armed_process) {
    // A process the plugin forked: it has the handler and the channel, but the channel is
    // its parent's, whose frames it would cut into. It dies as without the handler.
    die_of(signal);
    return;
  }
  const pid_t self = thread_id();
  pid_t nobody = 0;
  if (!crashing_thread.compare_exchange_strong(nobody, self)) {
    if (nobody == self) {
      // A second crash signal inside this handler (a fault in the unwinder on a corrupt
      // stack; abort() unblocks SIGABRT): end of the first signal, without a report.
      die_of(capture.signal != 0 ? capture.signal : signal);
      return;
    }
    // Another thread's crash is being reported; the exec that follows ends this thread.
    for (;;) ::pause();
  }
  capture.magic = Capture::magic_value;
  capture.signal = signal;
  capture.code = info->si_code;
  // si_addr means the faulting address for the faults the kernel raises; a signal sent by a
  // process (si_code <= 0: kill, tgkill, abort's raise) carries a pid there instead.
  capture.address = info->si_code > 0 && signal != SIGABRT ? reinterpret_cast<std::uintptr_t>(info->si_addr) : 0;
  ::prctl(PR_GET_NAME, capture.thread, 0, 0, 0);
  capture.thread[sizeof(capture.thread) - 1] = '\0';

  Unwinding state;
#if defined(__x86_64__)
  state.crashed_pc = static_cast<std::uintptr_t>(static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RIP]);
  state.stack_pointer = static_cast<std::uintptr_t>(static_cast<ucontext_t*>(context)->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  state.crashed_pc = static_cast<std::uintptr_t>(static_cast<ucontext_t*>(context)->uc_mcontext.pc);
#endif
  dl_find_object crashed_in{};
  if (state.crashed_pc != 0 &&
      _dl_find_object(reinterpret_cast<void*>(state.crashed_pc), &crashed_in) == 0) {
    _Unwind_Backtrace(collect_frame, &state);
    if (capture.unwound == 0) {
      // The unwinder could not step out of the handler: the crashed instruction alone.
      capture.frame_count = 1;
      capture.frames[0] = Capture::Frame{state.crashed_pc, module_of(state.crashed_pc), 1};
    }
  } else {
    // The crashed instruction is in no library: a call through a bad function pointer, most
    // likely, whose return address the call just pushed. The unwinder, which would read the
    // instruction's bytes, is not run.
    capture.unwound = Capture::called_nowhere;
    capture.frames[capture.frame_count++] = Capture::Frame{state.crashed_pc, Capture::no_module, 1};
    if (state.stack_pointer != 0) {
      const std::uintptr_t caller = *reinterpret_cast<const std::uintptr_t*>(state.stack_pointer);
      capture.frames[capture.frame_count++] = Capture::Frame{caller, module_of(caller - 1), 0};
    }
  }

  if (own_executable >= 0 && settings.channel_fd >= 0 && take_channel(self)) {
    static const char digits[] = "0123456789abcdef";
    const auto* bytes = reinterpret_cast<const unsigned char*>(&capture);
    for (std::size_t i = 0; i < sizeof(Capture); ++i) {
      hex_argument[2 * i] = digits[bytes[i] >> 4];
      hex_argument[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    hex_argument[2 * sizeof(Capture)] = '\0';
    format_number(number_arguments[0], static_cast<std::uint64_t>(settings.channel_fd));
    format_number(number_arguments[1], settings.max_frame_bytes);
    format_number(number_arguments[2], settings.report_ms);
    char program[] = "pihost";
    char flag[] = "--report-crash";
    static_assert(std::string_view("--report-crash") == isolator::wire::flag_report_crash);
    char* argv[] = {program,
                    flag,
                    number_arguments[0],
                    number_arguments[1],
                    number_arguments[2],
                    hex_argument,
                    nullptr};
    // The channel stays open in the reporter; nothing else of this process's does.
    ::fcntl(settings.channel_fd, F_SETFD, 0);
    ::syscall(SYS_execveat, own_executable, "", argv, environment, AT_EMPTY_PATH);
    ::fcntl(settings.channel_fd, F_SETFD, FD_CLOEXEC);
  }
  errno = saved_errno;
  die_of(signal);
}

void record_environment() {
  std::size_t used = 0;
  std::size_t count = 0;
  for (char** variable = environ; variable != nullptr && *variable != nullptr && count < max_environment;
       ++variable) {
    const std::size_t size = std::strlen(*variable) + 1;
    if (used + size > environment_bytes) break;
    std::memcpy(environment_text + used, *variable, size);
    environment[count++] = environment_text + used;
    used += size;
  }
  environment[count] = nullptr;
}

}  // namespace

void restore_default_action(int signal) {
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  ::sigaction(signal, &default_action, nullptr);
  sigset_t just{};
  sigemptyset(&just);
  sigaddset(&just, signal);
  ::sigprocmask(SIG_UNBLOCK, &just, nullptr);
}

void give_alternate_stack() {
  void* memory = ::mmap(nullptr, alternate_stack_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return;  // no report of this thread's stack overflow, nothing worse
  stack_t stack{};
  stack.ss_sp = memory;
  stack.ss_size = alternate_stack_bytes;
  if (::sigaltstack(&stack, nullptr) != 0) ::munmap(memory, alternate_stack_bytes);
}

void arm(const Settings& chosen) {
  settings = chosen;
  armed_process = ::getpid();
  own_executable = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  // Out of the way of the low numbers a plugin may close or reuse, as the channel is: the
  // handler must exec pihost, not whatever file a plugin opened at the same number.
  if (own_executable >= 0) {
    if (const int high = ::fcntl(own_executable, F_DUPFD_CLOEXEC, descriptor_floor); high >= 0) {
      ::close(own_executable);
      own_executable = high;
    }
  }
  const ssize_t length = ::readlink("/proc/self/exe", own_path, sizeof(own_path) - 1);
  own_path[length > 0 ? length : 0] = '\0';
  record_environment();
  // The unwinder's one-time set-up (its register table, under a once-lock) happens here.
  _Unwind_Backtrace(count_frame, nullptr);
  give_alternate_stack();
  struct sigaction action {};
  action.sa_sigaction = on_crash;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  for (const int signal : crash_signals) ::sigaction(signal, &action, nullptr);
}

void enter_send() {
  if (armed_process == 0) return;  // no handler: nothing to keep out of the way
  thread_local const pid_t self = thread_id();
  sending_thread.store(self);
  if (crashing_thread.load() != 0) {
    // A crash is being reported: its handler may have seen no writer and taken the channel.
    sending_thread.store(0);
    for (;;) ::pause();
  }
}

void leave_send() {
  if (armed_process != 0) sending_thread.store(0);
}

}  // namespace pihost::crash
