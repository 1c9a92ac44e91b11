// Crashes of every kind, for the crash reports (integration/crash_report_test.cpp). Built
// with -g -O0, and a second time stripped (libplugin_crashes_stripped.so). The functions the
// stacks must name are kept out of line and out of tail calls, so that each is a frame.
#include <isolator/plugin.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <thread>

extern "C" void* __libc_malloc(std::size_t size);
extern "C" void __libc_free(void* pointer);

namespace crashes {

// The line of the null write in level_three, which the test learns from null_line().
constexpr int null_write_line = __LINE__ + 2;
__attribute__((noinline)) void level_three(volatile int* nowhere) {
  nowhere[0] = 42;
  nowhere[1] = 0;  // after the write: the call cannot be a tail call
}

__attribute__((noinline)) void level_two(volatile int* nowhere) {
  level_three(nowhere);
  std::free(nullptr);
}

__attribute__((noinline)) void level_one(volatile int* nowhere) {
  level_two(nowhere);
  std::free(nullptr);
}

__attribute__((noinline)) int recurse(int depth) {
  volatile char pad[512];
  pad[0] = static_cast<char>(depth);
  return recurse(depth + 1) + pad[0];
}

// Two chunks beyond the thread cache and the fast bins, so that free() takes the arena's
// lock; the second's size field is overwritten, which free() of the first detects, under
// that lock, and answers with abort(). glibc's allocator by its own names: under a
// sanitizer, malloc and free are the sanitizer's, whose chunks have no such field.
__attribute__((noinline)) void corrupt_and_free() {
  auto* first = static_cast<char*>(__libc_malloc(4096));
  auto* second = static_cast<char*>(__libc_malloc(4096));
  // Its size field, in front of it: 0 (through an integer, which the compiler cannot see).
  *reinterpret_cast<volatile std::size_t*>(reinterpret_cast<std::uintptr_t>(second) - sizeof(std::size_t)) = 0;
  __libc_free(first);
  __libc_free(second);
}

__attribute__((noinline)) void call_through_null() {
  void (*volatile nowhere)() = nullptr;
  nowhere();
  std::free(nullptr);  // after the call: not a tail call
}

__attribute__((noinline)) int divide(int dividend, int divisor) {
  volatile int by = divisor;  // not folded away at compile time
  return dividend / by;
}

__attribute__((noinline)) void trap() { __builtin_trap(); }

// Reads a page mapped from an empty file: past the file's end, SIGBUS.
__attribute__((noinline)) int read_past_the_file() {
  const int fd = ::open("crashes-bus-file", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  ::unlink("crashes-bus-file");
  void* page = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (page == MAP_FAILED) return -2;
  return *static_cast<volatile const int*>(page);
}

// A type of the plugin's own, for the exception's type in the failure.
class ParseError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace crashes

extern "C" {

/// Returns the line of level_three's null write.
ISOLATOR_PLUGIN_EXPORT int null_line(int, char**) { return crashes::null_write_line; }

/// A null write three frames deep: level_one -> level_two -> level_three.
ISOLATOR_PLUGIN_EXPORT int three_deep(int, char**) {
  crashes::level_one(nullptr);
  return 0;
}

ISOLATOR_PLUGIN_EXPORT int aborts(int, char**) { std::abort(); }

/// Endless recursion: the stack overflows into its guard page.
ISOLATOR_PLUGIN_EXPORT int overflows(int, char**) { return crashes::recurse(1); }

/// The null write in a thread the plugin started and named "crasher".
ISOLATOR_PLUGIN_EXPORT int crash_in_thread(int, char**) {
  std::thread crasher([] {
    pthread_setname_np(pthread_self(), "crasher");
    crashes::level_one(nullptr);
  });
  crasher.join();
  return 0;
}

/// glibc aborts inside free(), holding malloc's lock, on a corrupted heap.
ISOLATOR_PLUGIN_EXPORT int corrupts_the_heap(int, char**) {
  crashes::corrupt_and_free();
  return 0;
}

/// SIGFPE (FPE_INTDIV), SIGILL (ud2) and SIGBUS (BUS_ADRERR), each in a function of its own.
ISOLATOR_PLUGIN_EXPORT int divides_by_zero(int, char**) { return crashes::divide(1, 0); }
ISOLATOR_PLUGIN_EXPORT int traps(int, char**) {
  crashes::trap();
  return 0;
}
ISOLATOR_PLUGIN_EXPORT int bus_error(int, char**) { return crashes::read_past_the_file(); }

/// Calls through a null function pointer: the crashed instruction is at address 0.
ISOLATOR_PLUGIN_EXPORT int calls_null(int, char**) {
  crashes::call_through_null();
  return 0;
}

/// A process the plugin forks crashes; returns the signal that ended it (-1: it did not die
/// of one). pihost itself must go on, its channel untouched.
ISOLATOR_PLUGIN_EXPORT int crash_in_forked_child(int, char**) {
  const pid_t child = ::fork();
  if (child == 0) {
    crashes::level_one(nullptr);
    ::_exit(0);
  }
  if (child < 0) return -2;
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return -3;
  return WIFSIGNALED(status) ? WTERMSIG(status) : -1;
}

/// Throws an exception of the plugin's own type.
ISOLATOR_PLUGIN_EXPORT int throws_its_own(int, char**) { throw crashes::ParseError("unexpected token ')'"); }

}  // extern "C"
