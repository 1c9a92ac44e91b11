// Where the records isolatorctl reads live (docs/isolatorctl.md), the same for every process
// of a user, and the sweep of records whose host is dead. Used by the library, which
// publishes, and by isolatorctl, which reads: one rule, so that both find the same place.
//
// A record is `<host tag>-<n>.json` (the host tag is "isolator-<pid>-<start time>", as for
// the host's cgroups and private directories), beside its calls counter `<host tag>-<n>.calls`;
// a record being written is `<host tag>-<n>.json.tmp` until it is renamed into place. The
// name alone says whose it is, so a sweep needs to read nothing a plugin could have forged.
#pragma once

#include <filesystem>
#include <string>

namespace isolator::detail::records {

/// The records directory: `configured` when not empty, else $ISOLATOR_RUNTIME_DIR (when
/// absolute), else $XDG_RUNTIME_DIR/isolator (when absolute), else /run/isolator for root,
/// else /tmp/isolator-<uid>. Never throws.
std::filesystem::path directory(const std::filesystem::path& configured = {});

/// Checks `dir` for use, making it first (mode 0700, its parent must exist) when `create`
/// and missing: it must be a directory, not a symbolic link, owned by this user, and
/// writable by nobody else (no group or world write bit). Returns "" when usable, else what
/// is wrong with it and the fix, naming the path. Never throws.
std::string check(const std::filesystem::path& dir, bool create);

/// Removes from `dir` the records, counters and unfinished records of every host that no
/// longer runs (its pid gone, or reused by a process with another start time). Returns how
/// many records (.json files) went. Never throws.
int sweep(const std::filesystem::path& dir);

/// The suffixes of a record and of its calls counter.
inline constexpr const char* record_suffix = ".json";
inline constexpr const char* calls_suffix = ".calls";

}  // namespace isolator::detail::records
