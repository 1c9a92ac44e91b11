#include "call_limit_files.hpp"

#include "cgroupfs.hpp"
#include "limit_files.hpp"

#include "platform/child_process.hpp"

#include <isolator/errors.hpp>

#include <cerrno>
#include <cstring>

namespace isolator::detail {

std::string OverriddenLimitFiles::current(const std::string& what, const std::filesystem::path& file) {
  int error = 0;
  const auto text = cgroupfs::read(file, &error);
  if (!text) {
    throw LimitUnavailable(what + ": cannot read " + file.string() + ": " + std::strerror(error) +
                           "; the call was not run");
  }
  return std::string(first_line(*text));
}

void OverriddenLimitFiles::set(const std::string& what, const std::filesystem::path& file, const std::string& value,
                               const std::string& expected, WatchedLimitFiles& watched) {
  try {
    std::string before = current(what, file);
    saved_.push_back(Saved{file, before});
    watched.expect(file, set_and_verify(file, value, expected));
  } catch (const StartError& refused) {
    // The kernel said no (EBUSY: the child already uses more memory than that, say): the
    // limits go back to the isolator's, and the call is refused, not run under half of it.
    restore(watched);
    std::string why = refused.what();
    if (why.find("Device or resource busy") != std::string::npos) {
      why += " (the child uses more than that already)";
    }
    throw LimitUnavailable(what + ": " + why + "; the call was not run");
  } catch (...) {
    // A refusal before anything of this file was written (it could not be read): what the
    // call's earlier overrides wrote goes back too.
    restore(watched);
    throw;
  }
}

void OverriddenLimitFiles::restore(WatchedLimitFiles& watched) {
  std::string first_problem;
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
    try {
      watched.expect(it->file, set_and_verify(it->file, it->before, it->before));
    } catch (const StartError& error) {
      if (first_problem.empty()) first_problem = error.what();
    }
  }
  saved_.clear();
  if (!first_problem.empty()) {
    throw StartError("cannot put back the isolator's limit after a call's override: " + first_problem);
  }
}

}  // namespace isolator::detail
