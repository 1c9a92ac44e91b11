// The wire contract between the host library and pihost: the protocol version, the frame
// format, the size limits, and every message either side may send.
//
// A frame is a 4-byte big-endian length N followed by N bytes holding exactly one msgpack
// object. That object is always an array whose first element is the MessageType (a positive
// integer); the remaining elements are the message's fields, in the order listed here, with
// exactly the types listed here. Anything else is a protocol error, and the peer that sees
// one drops the connection.
//
// Conversation:
//   pihost -> host   Hello                      first frame, once
//   host -> pihost   Invoke | Run | SetData | GetData  any order; one call (Invoke or Run) in
//                                               flight at a time
//   pihost -> host   Started                    one per call whose method runs (or whose
//                                               program was exec'ed), just before it
//   pihost -> host   Result | Failed            one per call, same id, after its Started (a
//                                               Failed for a library or symbol that cannot be
//                                               loaded, or a program that cannot be exec'ed,
//                                               comes without one)
//   pihost -> host   DataValue                  one per GetData, same id
//   host -> pihost   Ping                       any time; answered with a Pong, same seq (see Ping)
//   pihost -> host   CallHost                   any time, from any plugin thread: a service call
//   host -> pihost   HostAnswer                 one per CallHost, same seq (any time after it)
//   pihost -> host   Crash                      at most two, as pihost dies of a crash signal
//                                               (see Crash); nothing else follows them
// Closing the connection ends the conversation: pihost exits when it reads end-of-file.
//
// This header has no OS or process code; both sides include it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace isolator::wire {

/// Bumped whenever a message's shape or meaning changes. Hello carries it; the host refuses
/// a child that speaks another version.
inline constexpr std::uint32_t protocol_version = 7;

/// Size of the length prefix in front of every frame.
inline constexpr std::size_t frame_header_bytes = 4;

/// The largest frame a reader accepts unless configured otherwise (16 MiB). A length prefix
/// above the reader's maximum is a protocol error detected before any allocation.
inline constexpr std::size_t default_max_frame_bytes = std::size_t{16} << 20;

/// Most arguments an Invoke may carry (and so the largest array the decoder accepts).
inline constexpr std::size_t max_args = 65536;

/// The cap on a call's result bytes (isolator_result_set) that pihost applies unless told
/// another with --max-result-bytes (Options::max_result_bytes): 1 MiB.
inline constexpr std::size_t default_max_result_bytes = std::size_t{1} << 20;

/// Most frames a Crash carries: the innermost ones of a deeper stack (an endless recursion).
inline constexpr std::size_t max_stack_frames = 256;

/// Deepest nesting of arrays in any message: the message, and in it Invoke's argument list,
/// a Usage or a Crash's frames. Keeping it at 2 bounds what a hostile body can make the decoder allocate: at
/// most one object per element of two levels of arrays of at most max_args elements.
inline constexpr std::size_t max_depth = 2;

enum class MessageType : std::uint8_t {
  hello = 1,
  invoke = 2,
  result = 3,
  failed = 4,
  set_data = 5,
  get_data = 6,
  data_value = 7,
  started = 8,
  ping = 9,
  pong = 10,
  call_host = 11,
  host_answer = 12,
  crash = 13,
  run = 14,
};

/// What a call cost, measured by pihost around the call.
/// Encoded as an array [wall_us, cpu_user_us, cpu_sys_us, peak_rss_bytes].
struct Usage {
  std::int64_t wall_us = 0;
  std::int64_t cpu_user_us = 0;
  std::int64_t cpu_sys_us = 0;
  /// Peak resident set size of pihost during the call (VmHWM, reset before the call).
  std::int64_t peak_rss_bytes = 0;
  bool operator==(const Usage&) const = default;
};

/// pihost -> host, first frame. [1, version, pid]
struct Hello {
  std::uint32_t version = 0;
  std::int64_t pid = 0;
  bool operator==(const Hello&) const = default;
};

/// host -> pihost: call `symbol` of `library` with `args` as argv[1..]. The libraries
/// `library` needs are looked for in its own directory, then in the directories of
/// `search_path` (absolute, in order), before the system's places. `input` is the call's
/// input bytes, which the method reads with isolator_input() (empty: none).
/// [2, id, library, symbol, [args...], [search_path...], input(bin)]
struct Invoke {
  std::uint64_t id = 0;
  std::string library;
  std::string symbol;
  std::vector<std::string> args;
  std::vector<std::string> search_path;
  std::string input;
  bool operator==(const Invoke&) const = default;
};

/// pihost -> host: the method returned `code`, and `bytes` when it set result bytes
/// (isolator_result_set; nil when it set none, so that empty bytes are told from none).
/// [3, id, code, usage, bytes(bin) | nil]
struct Result {
  std::uint64_t id = 0;
  std::int32_t code = 0;
  Usage usage;
  std::optional<std::string> bytes;
  bool operator==(const Result&) const = default;
};

/// Why pihost could not complete an Invoke while staying alive.
enum class FailureReason : std::uint8_t {
  library_not_found = 1,  ///< the path does not exist
  not_a_library = 2,      ///< not a regular ELF shared object, or dlopen refused it
  symbol_not_found = 3,   ///< dlsym found no such symbol
  threw = 4,              ///< a C++ exception escaped the method
  memory_limit = 5,       ///< std::bad_alloc escaped the method under an address-space limit
  dependency_not_found = 6,  ///< a library the library needs was found nowhere (the message names it)
  result_too_large = 7,      ///< the method returned more result bytes than the cap (the message says both)
  program_not_found = 8,     ///< Run: nothing at the path, or the name is in no PATH directory (the message lists them)
  not_executable = 9,        ///< Run: the file cannot be executed (no permission, unknown format, a missing interpreter)
  program_signalled = 10,    ///< Run: the program died of Failed::signal (pihost lives on)
  program_cpu_limit = 11,    ///< Run: the program passed Run::cpu_limit_ms (RLIMIT_CPU's SIGXCPU, or its SIGKILL)
  program_start_failed = 12, ///< Run: pihost could not make the program's process (fork, pipe: the message says)
};

/// pihost -> host: the call failed for `reason`. For `threw`, `exception_type` is the
/// exception's type, demangled ("std::runtime_error"; empty for any other reason, or when
/// the type is unknown). For `program_signalled` and `program_cpu_limit`, `signal` is the
/// signal the program died of (0 for any other reason).
/// [4, id, reason, message, usage, exception_type, signal]
struct Failed {
  std::uint64_t id = 0;
  FailureReason reason = FailureReason::threw;
  std::string message;
  Usage usage;
  std::string exception_type;
  std::int32_t signal = 0;
  bool operator==(const Failed&) const = default;
};

/// host -> pihost: store `value` under `key` in the child. No reply. [5, key, value(bin)]
struct SetData {
  std::string key;
  std::string value;
  bool operator==(const SetData&) const = default;
};

/// host -> pihost: ask for the value under `key`. [6, id, key]
struct GetData {
  std::uint64_t id = 0;
  std::string key;
  bool operator==(const GetData&) const = default;
};

/// pihost -> host: the answer to GetData `id`. [7, id, found, value(bin)]
struct DataValue {
  std::uint64_t id = 0;
  bool found = false;
  std::string value;
  bool operator==(const DataValue&) const = default;
};

/// pihost -> host: the method of call `id` is about to run: its library is loaded (static
/// initializers included) and its symbol found. A child that dies before sending it never
/// ran the method, so the host sends the call to a new child (once) and counts the death
/// against the restart limit; a death after it is the call's failure. [8, id]
struct Started {
  std::uint64_t id = 0;
  bool operator==(const Started&) const = default;
};

/// host -> pihost: are you there? Answered by whichever pihost thread holds the channel:
/// the main thread between calls; during a call (which the main thread runs), the relief
/// thread, once the call has run for pihost's Server::relief_delay (1 ms). So a long call
/// does not hold the Pong back, and a missing Pong means the whole child is stopped or
/// wedged. [9, seq]
struct Ping {
  std::uint64_t seq = 0;
  bool operator==(const Ping&) const = default;
};

/// pihost -> host: the answer to Ping `seq`. [10, seq]
struct Pong {
  std::uint64_t seq = 0;
  bool operator==(const Pong&) const = default;
};

/// pihost -> host: a plugin thread calls the host's service `service` with `bytes`, while call
/// `id` runs (the call that was running when it asked), and waits for the HostAnswer of the
/// same `seq`. [11, id, seq, service, bytes(bin)]
struct CallHost {
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  std::string service;
  std::string bytes;
  bool operator==(const CallHost&) const = default;
};

/// How the host answered a CallHost.
enum class HostStatus : std::uint8_t {
  ok = 0,               ///< the service returned; `bytes` is its answer
  unknown_service = 1,  ///< the host has no service of that name (`bytes` says which it has)
  threw = 2,            ///< the service threw (`bytes` is its what())
  busy = 3,             ///< the host already runs as many of this child's service calls as it allows
  ended = 4,            ///< the call is over, or the isolator is shutting down
};

/// host -> pihost: the answer to CallHost `seq`. [12, seq, status, bytes(bin)]
struct HostAnswer {
  std::uint64_t seq = 0;
  HostStatus status = HostStatus::ok;
  std::string bytes;
  bool operator==(const HostAnswer&) const = default;
};

/// One frame of a crashed thread's stack. Empty strings and zeros are what was not known.
struct StackFrame {
  std::string function;  ///< demangled, as the library's symbols name it
  std::string library;   ///< the path the library was loaded from (pihost's own for its frames)
  std::uint64_t offset = 0;  ///< the address in the library's own numbering (its ELF addresses)
  std::string file;      ///< the source file, from the library's debug information
  std::uint32_t line = 0;
  bool operator==(const StackFrame&) const = default;
};

/// pihost -> host, as pihost dies of a crash signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
/// SIGABRT): where the thread that got it was. pihost's signal handler records the return
/// addresses and takes the channel, then pihost's crash reporter (pihost again, started in
/// the dying process's place) sends a first Crash with library and offset only, names the
/// functions and lines from the libraries' symbols and debug information, sends a second,
/// complete one, and ends the process with the same signal. The host keeps the last it
/// received. `signal` and `code` are the siginfo's si_signo and si_code, `address` its
/// si_addr (0 where the signal has none), `thread` the thread's name, `note` what could
/// not be done ("function names need libdw.so.1 ..."; empty when nothing was missing).
/// `frames`, innermost first, at most max_stack_frames, travel as one flat array of five
/// fields per frame. [13, signal, code, address, thread, note, [function, library, offset,
/// file, line, ...]]
struct Crash {
  std::int32_t signal = 0;
  std::int32_t code = 0;
  std::uint64_t address = 0;
  std::string thread;
  std::string note;
  std::vector<StackFrame> frames;
  bool operator==(const Crash&) const = default;
};

/// host -> pihost: run a program (ProcessIsolator::run) in pihost's box, and wait for it.
/// `argv[0]` is an absolute path, or a name without '/' looked up in the PATH of the
/// program's environment; `environment` holds "NAME=value" entries set over pihost's own;
/// `directory` is its working directory (empty: pihost's, the private one); `input` is its
/// stdin (empty: /dev/null); `cpu_limit_ms` (0: none) is the CPU time each of its processes
/// may use, which pihost sets as RLIMIT_CPU rounded up to whole seconds (the host's own watch
/// counts the whole box where the backend can). Replied to as an Invoke: Started once the
/// program is exec'ed, then Result with its exit code (bytes nil) or Failed; every process
/// the program started is gone before the reply.
/// [14, id, [argv...], [environment...], directory, input(bin), cpu_limit_ms]
struct Run {
  std::uint64_t id = 0;
  std::vector<std::string> argv;
  std::vector<std::string> environment;
  std::string directory;
  std::string input;
  std::uint64_t cpu_limit_ms = 0;
  bool operator==(const Run&) const = default;
};

using Message = std::variant<Hello, Invoke, Result, Failed, SetData, GetData, DataValue, Started, Ping, Pong,
                             CallHost, HostAnswer, Crash, Run>;

}  // namespace isolator::wire
