// Whether a call can be sent to a child at all: checked when the call is made, so that the
// caller gets the error (a call that cannot be sent must never wait in a queue).
#pragma once

#include <isolator/process_isolator.hpp>
#include <isolator/wire/protocol.hpp>

#include <chrono>
#include <memory>
#include <optional>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace isolator::detail {

/// Throws Error, naming the field and `call` ("the call", "run()"), when a per-call limit
/// cannot be a limit: memory under 1 MiB, a CPU time or process count that is not positive.
void check_call_limits(const CallLimits& limits, std::string_view call);

/// Throws Error when `invocation`'s per-call limits cannot be limits (check_call_limits), it names no symbol, has more arguments than the protocol allows or its Invoke
/// message (with `search_path` and its input) would exceed `max_frame_bytes`
/// (Options::max_frame_bytes).
/// Copies nothing.
void check_sendable(const Invocation& invocation, const std::vector<std::string>& search_path,
                    std::size_t max_frame_bytes);

/// Options::library_search_path as sent in every Invoke: each directory must be absolute and,
/// with the strict profile (`directories` not empty), lie in one of `directories` (it is then
/// sent with its links resolved), else OptionsError naming it and the fix.
std::vector<std::string> configured_search_path(const Options& options,
                                                const std::vector<std::filesystem::path>& directories);

/// The search path of one call's Invoke: CallOptions::library_search_path, checked as
/// configured_search_path() checks (but an Error: the call is refused, nothing runs), then
/// `configured`.
std::vector<std::string> call_search_path(const Invocation& invocation, const std::vector<std::string>& configured,
                                          const std::vector<std::filesystem::path>& directories);

/// The library path to send. With the strict profile (`directories` not empty: see
/// loadable_directories()): `library` with its links resolved (the child sees each shown path
/// at its canonical place only), after checking that it lies in one of `directories`, else
/// Error naming it and the fix. A relative path is sent as it is: pihost refuses it. Without
/// the profile, `library` unchanged.
std::string loadable_library(std::string library, const std::vector<std::filesystem::path>& directories);

/// `command` as its Run message (id 0: the caller sets it), after checking it: argv not
/// empty, argv[0] absolute or a bare name, no NUL in a string, environment names without '=',
/// an absolute working directory, and with the strict profile (`directories` not empty) an
/// absolute program and the working directory inside `directories`; else Error ("run(): ...")
/// naming the field and the fix (and for the per-call limits, as check_call_limits). `cpu_limit`:
/// Limits::cpu_time_per_call, replaced by the command's CallOptions::limits.cpu_time when set;
/// the program's keeper sets it as RLIMIT_CPU.
wire::Run checked_run(Command command, std::optional<std::chrono::milliseconds> cpu_limit,
                      const std::vector<std::filesystem::path>& directories);

/// `run` encoded, or Error when its input or its whole message exceeds `max_frame_bytes`.
std::shared_ptr<const std::string> run_frame(const wire::Run& run, std::size_t max_frame_bytes);

}  // namespace isolator::detail
