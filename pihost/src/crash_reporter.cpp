#include "crash_reporter.hpp"

#include "crash_capture.hpp"
#include "demangle.hpp"

#include <isolator/wire/codec.hpp>
#include <isolator/wire/pihost_contract.hpp>

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pihost {
namespace {

namespace wire = isolator::wire;
using crash::Capture;

// Strings of a frame are cut to these sizes: a frame must fit however long a template's name.
constexpr std::size_t max_name_bytes = 1024;
constexpr std::size_t max_path_bytes = 4096;

volatile sig_atomic_t dying_of = SIGSEGV;  // the signal the plugin's thread got

// Ends the process of the plugin's signal: the default action, unblocked.
[[noreturn]] void die() {
  const int signal = dying_of;
  crash::restore_default_action(signal);
  ::raise(signal);
  ::_exit(128 + signal);  // not reached: the default action of every crash signal ends the process
}

// The reporter's own crash (a hostile library's debug information), or its time up.
void on_own_trouble(int) { die(); }

std::string cut(std::string text, std::size_t size) {
  if (text.size() > size) text.resize(size);
  return text;
}

bool read_number(const char* text, unsigned long long& value) {
  char* end = nullptr;
  errno = 0;
  value = std::strtoull(text, &end, 10);
  return errno == 0 && end != text && *end == '\0';
}

// The handler's record, checked: every count and offset within its array, every path ended.
bool read_capture(std::string_view hex, Capture& capture) {
  if (hex.size() != 2 * sizeof(Capture)) return false;
  auto* bytes = reinterpret_cast<unsigned char*>(&capture);
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < sizeof(Capture); ++i) {
    const int high = nibble(hex[2 * i]);
    const int low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    bytes[i] = static_cast<unsigned char>(high << 4 | low);
  }
  if (capture.magic != Capture::magic_value || capture.frame_count > wire::max_stack_frames ||
      capture.module_count > Capture::max_modules || capture.path_bytes > Capture::max_path_bytes) {
    return false;
  }
  for (std::uint32_t i = 0; i < capture.module_count; ++i) {
    const auto at = capture.modules[i].path_at;
    if (at >= capture.path_bytes || std::memchr(capture.paths + at, '\0', capture.path_bytes - at) == nullptr) {
      return false;
    }
  }
  for (std::uint32_t i = 0; i < capture.frame_count; ++i) {
    const auto module = capture.frames[i].module;
    if (module != Capture::no_module && module >= capture.module_count) return false;
  }
  capture.thread[sizeof(capture.thread) - 1] = '\0';
  return true;
}

// The report with each frame's library and offset, and no names yet.
wire::Crash first_report(const Capture& capture) {
  wire::Crash report;
  report.signal = capture.signal;
  report.code = capture.code;
  report.address = capture.address;
  report.thread = capture.thread;
  if (capture.unwound == Capture::called_nowhere) {
    report.note = "the crashed instruction is in no library (a call through a bad function pointer?): it "
                  "and its caller, from the stack pointer, are the only frames";
  } else if (capture.unwound == 0) {
    report.note = capture.frame_count == 0
                      ? "no stack: the crashed instruction was not found"
                      : "the unwinder could not step out of the signal handler: the crashed instruction only";
  } else if (capture.frame_count == wire::max_stack_frames) {
    report.note = "the stack is deeper than " + std::to_string(wire::max_stack_frames) + " frames: the innermost shown";
  }
  for (std::uint32_t i = 0; i < capture.frame_count; ++i) {
    const auto& frame = capture.frames[i];
    wire::StackFrame out;
    if (frame.module == Capture::no_module) {
      out.offset = frame.pc;  // in no library the loader knows: the address itself
    } else {
      const auto& module = capture.modules[frame.module];
      out.library = cut(capture.paths + module.path_at, max_path_bytes);
      out.offset = frame.pc - module.base;
    }
    report.frames.push_back(std::move(out));
  }
  return report;
}

// A symbol's name as a person reads it: demangled, without the version a dynamic symbol
// carries ("__libc_start_main@@GLIBC_2.34").
std::string symbol_name(std::string name) {
  if (const auto at = name.find('@'); at != std::string::npos && at > 0) name.resize(at);
  return demangled(name.c_str());
}

// elfutils' libdwfl, loaded when a crash needs it.
class LibDw {
 public:
  LibDw() {
    handle_ = ::dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      const char* why = ::dlerror();
      problem_ = std::string("function names and lines need elfutils' libdw.so.1 (Debian: libdw1), which "
                             "did not load: ") +
                 (why != nullptr ? why : "unknown error");
      return;
    }
    if (!find(begin, "dwfl_begin") || !find(end, "dwfl_end") || !find(report_begin, "dwfl_report_begin") ||
        !find(report_elf, "dwfl_report_elf") || !find(report_end, "dwfl_report_end") ||
        !find(addrmodule, "dwfl_addrmodule") || !find(addrname, "dwfl_module_addrname") ||
        !find(getsrc, "dwfl_module_getsrc") || !find(lineinfo, "dwfl_lineinfo") ||
        !find(find_debuginfo, "dwfl_standard_find_debuginfo") ||
        !find(section_address, "dwfl_offline_section_address")) {
      problem_ = "libdw.so.1 lacks a function of libdwfl's: function names and lines are not shown";
    }
  }
  LibDw(const LibDw&) = delete;
  LibDw& operator=(const LibDw&) = delete;

  const std::string& problem() const { return problem_; }

  decltype(&::dwfl_begin) begin = nullptr;
  decltype(&::dwfl_end) end = nullptr;
  decltype(&::dwfl_report_begin) report_begin = nullptr;
  decltype(&::dwfl_report_elf) report_elf = nullptr;
  decltype(&::dwfl_report_end) report_end = nullptr;
  decltype(&::dwfl_addrmodule) addrmodule = nullptr;
  decltype(&::dwfl_module_addrname) addrname = nullptr;
  decltype(&::dwfl_module_getsrc) getsrc = nullptr;
  decltype(&::dwfl_lineinfo) lineinfo = nullptr;
  decltype(&::dwfl_standard_find_debuginfo) find_debuginfo = nullptr;
  decltype(&::dwfl_offline_section_address) section_address = nullptr;

 private:
  template <class F>
  bool find(F& function, const char* name) {
    function = reinterpret_cast<F>(::dlsym(handle_, name));
    return function != nullptr;
  }

  void* handle_ = nullptr;  // never closed: the process ends soon
  std::string problem_;
};

// Names each frame's function, source file and line where the library's symbols and debug
// information say; what cannot be named stays empty. Returns what was missing, for the note.
std::string name_frames(const Capture& capture, wire::Crash& report) {
  LibDw dw;
  if (!dw.problem().empty()) return dw.problem();
  Dwfl_Callbacks callbacks{};
  callbacks.find_debuginfo = dw.find_debuginfo;
  callbacks.section_address = dw.section_address;
  Dwfl* dwfl = dw.begin(&callbacks);
  if (dwfl == nullptr) return "libdw could not start: function names and lines are not shown";
  dw.report_begin(dwfl);
  for (std::uint32_t i = 0; i < capture.module_count; ++i) {
    const char* path = capture.paths + capture.modules[i].path_at;
    // A library without a file (the kernel's vDSO) is left unnamed.
    dw.report_elf(dwfl, path, path, -1, capture.modules[i].base, true);
  }
  dw.report_end(dwfl, nullptr, nullptr);
  for (std::uint32_t i = 0; i < capture.frame_count; ++i) {
    const auto& frame = capture.frames[i];
    if (frame.module == Capture::no_module) continue;
    // A return address is the instruction after the call: look up the call itself.
    const Dwarf_Addr address = frame.exact != 0 ? frame.pc : frame.pc - 1;
    Dwfl_Module* module = dw.addrmodule(dwfl, address);
    if (module == nullptr) continue;
    auto& out = report.frames[i];
    if (const char* name = dw.addrname(module, address)) out.function = cut(symbol_name(name), max_name_bytes);
    if (Dwfl_Line* line = dw.getsrc(module, address)) {
      Dwarf_Addr line_address = 0;
      int number = 0;
      if (const char* file = dw.lineinfo(line, &line_address, &number, nullptr, nullptr, nullptr)) {
        out.file = cut(file, max_path_bytes);
        out.line = number > 0 ? static_cast<std::uint32_t>(number) : 0;
      }
    }
  }
  dw.end(dwfl);
  return {};
}

// Sends `report` whole, dropping its outermost frames until it fits the host's frame limit.
void send(int fd, std::size_t max_frame_bytes, wire::Crash report) {
  std::string frame = wire::encode_frame(report);
  if (frame.size() > max_frame_bytes) {
    const std::string cut_note = "frames cut to fit the host's frame limit (Options::max_frame_bytes)";
    report.note = report.note.empty() ? cut_note : cut(report.note, max_name_bytes) + "; " + cut_note;
    while (!report.frames.empty() && (frame = wire::encode_frame(report)).size() > max_frame_bytes) {
      report.frames.pop_back();
    }
    if (frame.size() > max_frame_bytes) return;
  }
  // The time running out in the middle would leave the host half a frame: it waits until
  // the frame is whole.
  sigset_t alarm{};
  sigemptyset(&alarm);
  sigaddset(&alarm, SIGALRM);
  ::sigprocmask(SIG_BLOCK, &alarm, nullptr);
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the host is gone: nobody to tell
    sent += static_cast<std::size_t>(n);
  }
  ::sigprocmask(SIG_UNBLOCK, &alarm, nullptr);
}

}  // namespace

void report_crash(int argc, char** argv) {
  static Capture capture;  // ~21 KiB: not on the stack
  unsigned long long fd = 0;
  unsigned long long max_frame_bytes = 0;
  unsigned long long report_ms = 0;
  const bool arguments_read = argc == 6 && read_number(argv[2], fd) && read_number(argv[3], max_frame_bytes) &&
                              read_number(argv[4], report_ms) && read_capture(argv[5], capture);
  if (arguments_read) {
    for (const int signal : crash::crash_signals) {
      if (capture.signal == signal) dying_of = signal;
    }
  }
  // exec made the process dumpable again (the handler is armed only with core dumps off);
  // and it keeps the crashed thread's signal mask.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct sigaction trouble {};
  trouble.sa_handler = on_own_trouble;
  sigemptyset(&trouble.sa_mask);
  sigset_t unblock{};
  sigemptyset(&unblock);
  for (const int signal : crash::crash_signals) {
    ::sigaction(signal, &trouble, nullptr);
    sigaddset(&unblock, signal);
  }
  ::sigaction(SIGALRM, &trouble, nullptr);
  sigaddset(&unblock, SIGALRM);
  ::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
  if (!arguments_read) die();

  const int channel = static_cast<int>(fd);
  wire::Crash report = first_report(capture);
  const auto with_note = [&report](const std::string& more) {
    return report.note.empty() ? more : report.note + "; " + more;
  };
  if (report.frames.empty()) {
    send(channel, max_frame_bytes, std::move(report));
    die();
  }
  // Sent before the time starts, so that the host has each frame's library and offset
  // whatever naming the functions takes; the complete report replaces it.
  wire::Crash unnamed = report;
  unnamed.note = with_note("no function names or lines: pihost's crash reporter did not finish reading them within " +
                           std::to_string(report_ms) + " ms");
  send(channel, max_frame_bytes, std::move(unnamed));
  itimerval time_up{};
  time_up.it_value.tv_sec = static_cast<time_t>(report_ms / 1000);
  time_up.it_value.tv_usec = static_cast<suseconds_t>(report_ms % 1000 * 1000);
  ::setitimer(ITIMER_REAL, &time_up, nullptr);
  const std::string missing = name_frames(capture, report);
  if (!missing.empty()) report.note = with_note(missing);
  send(channel, max_frame_bytes, std::move(report));
  die();
}

}  // namespace pihost
