#include "call_check.hpp"

#include <isolator/errors.hpp>
#include <isolator/wire/codec.hpp>

#include <limits>
#include <string>
#include <system_error>

namespace isolator::detail {

void check_sendable(const Invocation& invocation, std::size_t max_frame_bytes) {
  if (invocation.args.size() > wire::max_args) {
    throw Error("a call takes at most " + std::to_string(wire::max_args) + " arguments; this one has " +
                std::to_string(invocation.args.size()));
  }
  // The largest id: the check holds whatever id the call gets.
  const std::size_t body = wire::invoke_frame_bytes(std::numeric_limits<std::uint64_t>::max(),
                                                    invocation.library, invocation.symbol, invocation.args) -
                           wire::frame_header_bytes;
  if (body > max_frame_bytes) {
    throw Error("the call's library path, symbol and arguments make a message of " + std::to_string(body) +
                " bytes, more than Options::max_frame_bytes (" + std::to_string(max_frame_bytes) + ")");
  }
}

std::string loadable_library(std::string library, const std::vector<std::filesystem::path>& directories) {
  namespace fs = std::filesystem;
  const fs::path path(library);
  // A relative path is pihost's to refuse (library_not_found, asking for an absolute one).
  if (directories.empty() || !path.is_absolute()) return library;
  std::error_code error;
  fs::path resolved = fs::weakly_canonical(path, error);
  if (error) resolved = path.lexically_normal();
  for (const auto& directory : directories) {
    const auto relative = resolved.lexically_relative(directory);
    if (!relative.empty() && *relative.begin() != "..") return resolved.string();
  }
  std::string shown;
  for (const auto& directory : directories) shown += (shown.empty() ? "" : ", ") + directory.string();
  throw Error("the library '" + library + "'" + (resolved != path ? " (" + resolved.string() + ")" : "") +
              " is outside the directories the strict profile (Options::hardening.strict) shows the child (" +
              shown + "); nothing was run. Add its directory to Options::hardening.plugin_directories");
}

}  // namespace isolator::detail
