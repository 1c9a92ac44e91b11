// Whether a call can be sent to a child at all: checked when the call is made, so that the
// caller gets the error (a call that cannot be sent must never wait in a queue).
#pragma once

#include <isolator/process_isolator.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace isolator::detail {

/// Throws Error when `invocation` has more arguments than the protocol allows or its Invoke
/// message would exceed `max_frame_bytes` (Options::max_frame_bytes). Copies nothing.
void check_sendable(const Invocation& invocation, std::size_t max_frame_bytes);

/// The library path to send. With the strict profile (`directories` not empty: see
/// loadable_directories()): `library` with its links resolved (the child sees each shown path
/// at its canonical place only), after checking that it lies in one of `directories`, else
/// Error naming it and the fix. A relative path is sent as it is: pihost refuses it. Without
/// the profile, `library` unchanged.
std::string loadable_library(std::string library, const std::vector<std::filesystem::path>& directories);

}  // namespace isolator::detail
