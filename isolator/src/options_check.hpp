// Checks a user's Options and derives what the isolator needs from them.
#pragma once

#include <isolator/options.hpp>
#include <isolator/probe.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace isolator::detail {

/// `options` when every value is valid; otherwise throws OptionsError naming the option,
/// its value and the valid range.
const Options& validated(const Options& options);

/// The child's whole environment: the allowed host variables, then the explicit ones.
std::vector<std::string> child_environment(const Options& options);

/// The requested limits that `check` says can be enforced. A requested limit that cannot be
/// fails the start (StartError) under require_limits; without it, it is dropped with a
/// warning naming the limit, the reason and the fix.
Limits enforceable_limits(const Options& options, const BackendCheck& check);

/// How long pihost's crash reporter may take to name a crashed stack's functions: half of
/// heartbeat_timeout (a reporter must never be taken for a wedged child, which the
/// heartbeat kills), at most wire::default_crash_report_ms (2 s), at least 1 ms; the 2 s
/// when the heartbeat is off.
std::chrono::milliseconds crash_report_time(const Options& options);

}  // namespace isolator::detail
