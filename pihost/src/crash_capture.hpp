// pihost's crash handler: when a thread of pihost (a plugin's, or pihost's own) gets a crash
// signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT), the handler records where the thread
// was, takes the channel to the host, and replaces the dying process with pihost's crash
// reporter (crash_reporter.hpp), which names the functions and sends the report.
//
// Why this split: the process that crashed cannot be trusted to do more than record. The
// crash may have come inside malloc (its lock held, its heap corrupt) or inside the dynamic
// loader (its lock held): the handler calls neither, and nothing that takes their locks
// (dladdr, dl_iterate_phdr). It runs on an alternate signal stack, so that a stack overflow
// is reported too. What it does, all async-signal-safe:
// - the return addresses, with libgcc's _Unwind_Backtrace, which finds each address's
//   unwind table with glibc's _dl_find_object (lock-free and async-signal-safe, glibc 2.35;
//   libgcc uses it from GCC 12). The unwinder's one-time set-up runs in arm(), not here;
// - each address's library (its path and load address), with _dl_find_object again;
// - the thread's name (prctl), the signal, its code and its address;
// - then it waits (bounded) until no other thread is writing a frame to the channel, keeps
//   the channel open across exec, and execs pihost's crash reporter with what it recorded as
//   an argument. The reporter is the same process (its pid, its cgroup, its limits, its
//   namespaces, its seccomp filter): the libraries' debug information, which is as untrusted
//   as the plugin, is read inside the box, never in the host.
// When the handler cannot report (the channel stays busy, the crash came inside a send,
// the exec fails) the process dies of its signal without a report, as without the handler;
// the host then says there is no stack and why it may be missing.
//
// What is not covered: a thread the plugin started has no alternate stack, so its stack
// overflow kills the process without a report; a plugin that installs its own handler for
// these signals replaces pihost's.
#pragma once

#include <isolator/wire/protocol.hpp>

#include <csignal>
#include <cstddef>
#include <cstdint>

namespace pihost::crash {

/// The signals the handler reports, and the reporter dies of.
inline constexpr int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

/// What the handler records, as the crash reporter receives it (hex in its argv). Plain
/// data: the handler fills a static one, the reporter checks every count and offset before
/// it believes them (the process that wrote them had just crashed).
struct Capture {
  static constexpr std::uint32_t magic_value = 0x69736f63;  // "isoc"
  static constexpr std::size_t max_modules = 64;
  static constexpr std::size_t max_path_bytes = 16 * 1024;
  static constexpr std::uint32_t no_module = 0xffffffff;
  /// `unwound` when the crashed instruction is in no library: it and its caller (the return
  /// address at the stack pointer) are the only frames.
  static constexpr std::uint32_t called_nowhere = 2;

  struct Frame {
    std::uint64_t pc = 0;          ///< the instruction (innermost frame) or the return address
    std::uint32_t module = no_module;  ///< index into modules
    std::uint32_t exact = 0;       ///< 1: pc is the faulting instruction itself, not a return address
  };
  struct Module {
    std::uint64_t base = 0;      ///< load bias (link_map::l_addr)
    std::uint32_t path_at = 0;   ///< offset of its NUL-terminated path in paths
    std::uint32_t reserved = 0;
  };

  std::uint32_t magic = 0;
  std::int32_t signal = 0;
  std::int32_t code = 0;
  std::uint32_t frame_count = 0;
  std::uint64_t address = 0;
  char thread[16] = {};
  std::uint32_t module_count = 0;
  std::uint32_t path_bytes = 0;
  /// 1: the unwinder stepped out of the handler into the crashed frame; called_nowhere: see
  /// there; 0: it did not (the crashed instruction alone).
  std::uint32_t unwound = 0;
  std::uint32_t reserved = 0;
  Frame frames[isolator::wire::max_stack_frames];
  Module modules[max_modules];
  char paths[max_path_bytes] = {};
};

/// What the handler and the reporter need to know from pihost's command line.
struct Settings {
  int channel_fd = -1;
  std::size_t max_frame_bytes = 0;
  /// How long the reporter may take naming functions before it gives up and ends the
  /// process with what it has sent (a stack without names, or nothing).
  unsigned report_ms = 0;
};

/// Installs the handler for the crash signals and gives the calling thread an alternate
/// signal stack; records pihost's own path (its frames' library), the environment (the
/// reporter's) and the settings; runs the unwinder once so that its one-time set-up is done.
/// Call on the main thread once the channel is open, before the threads that send on it
/// start. Not with core dumps on: the reporter would replace the crashed process, whose core
/// is what a host that asked for them wants.
void arm(const Settings& settings);

/// Gives the calling thread an alternate signal stack of its own (never freed: a thread of
/// pihost lives as long as the process), so that its stack overflow is reported. pihost's
/// own threads call it as they start.
void give_alternate_stack();

/// Puts back `signal`'s default action and unblocks it in the calling thread (async-signal-
/// safe): what ends the process of a crash signal, as without pihost's handler, once the
/// signal is sent again.
void restore_default_action(int signal);

/// Channel::send brackets writing a frame with these, so that the handler does not take the
/// channel in the middle of a frame. enter_send() does not return once a crash is being
/// reported (the reporter owns the channel; the process is about to be replaced). Both do
/// nothing before arm().
void enter_send();
void leave_send();

}  // namespace pihost::crash
