// What the backends share about limits: writing a control file and reading it back, the CPU
// quota arithmetic, and the probe entries that do not depend on the backend.
#pragma once

#include "cgroupfs.hpp"

#include <isolator/limits.hpp>
#include <isolator/probe.hpp>

#include <cstdint>
#include <string>

namespace isolator::detail {

/// The period of the CPU bandwidth controller, in microseconds.
inline constexpr std::int64_t cpu_period_us = 100'000;

/// `percent` of one CPU as a quota per cpu_period_us (at least 1 ms, the kernel's minimum).
std::int64_t cpu_quota_us(double percent);

/// `bytes` rounded down to the page size, as the kernel stores memory limits.
std::string page_rounded(std::uint64_t bytes);

/// Writes `value` to `file`, reads it back, and throws StartError unless the file then
/// starts with `expected` (a limit that silently did not stick is an error). Returns the
/// first line read back, which the box then watches (WatchedLimitFiles).
std::string set_and_verify(const std::filesystem::path& file, const std::string& value,
                           const std::string& expected);

/// A LimitCheck for `kind` (named by to_string(kind)): enforceable by `how` when
/// `available`; when it is not, `why` and `fix` explain.
LimitCheck limit_check(LimitKind kind, bool available, const std::string& how, const std::string& why,
                       const std::string& fix);

/// Affinity is set by sched_setaffinity before exec under every backend.
LimitCheck affinity_check();

}  // namespace isolator::detail
