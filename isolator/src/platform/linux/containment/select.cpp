// The one place a backend is chosen, and the self-check that explains the choice.
#include "../descriptor_hint.hpp"
#include "../hardening.hpp"
#include "../sandbox.hpp"
#include "backend.hpp"

#include <isolator/errors.hpp>
#include <isolator/probe.hpp>

namespace isolator {

std::string_view to_string(Containment containment) {
  switch (containment) {
    case Containment::automatic: return "automatic";
    case Containment::cgroup_v2: return "cgroup-v2";
    case Containment::cgroup_v1: return "cgroup-v1";
    case Containment::rlimit: return "rlimit";
  }
  return "unknown";
}

std::string_view to_string(LimitKind kind) {
  switch (kind) {
    case LimitKind::memory: return "memory";
    case LimitKind::cpu: return "cpu";
    case LimitKind::pids: return "pids";
    case LimitKind::affinity: return "affinity";
    case LimitKind::cpu_time: return "cpu-time";
  }
  return "unknown";
}

std::optional<LimitKind> parse_limit_kind(std::string_view name) {
  for (const auto kind :
       {LimitKind::memory, LimitKind::cpu, LimitKind::pids, LimitKind::affinity, LimitKind::cpu_time}) {
    if (to_string(kind) == name) return kind;
  }
  return std::nullopt;
}

namespace detail {
namespace {

// How many requested limits `check` enforces, and which it does not (as text).
std::size_t enforced_count(const BackendCheck& check, const Limits& limits, std::string& missing) {
  std::size_t count = 0;
  for (const auto& limit : check.limits) {
    if (!limit.kind || !limits.is_set(*limit.kind)) continue;
    if (limit.enforceable) {
      ++count;
    } else {
      missing += (missing.empty() ? "" : "; ") + limit.limit + " (" + limit.how + ")";
    }
  }
  return count;
}

std::vector<std::unique_ptr<Backend>> all_backends(const std::filesystem::path& v2_base) {
  std::vector<std::unique_ptr<Backend>> backends;
  const auto hierarchies = cgroupfs::Hierarchies::read();
  // Unread, they would look like a machine without cgroups, and a weaker backend be chosen.
  throw_if_out_of_descriptors(hierarchies.read_error(), "read /proc/self/mountinfo and /proc/self/cgroup");
  backends.push_back(make_cgroup_v2_backend(v2_base, hierarchies));
  backends.push_back(make_cgroup_v1_backend(hierarchies));
  backends.push_back(make_rlimit_backend());
  return backends;
}

}  // namespace

CheckChoice choose_backend(const std::vector<BackendCheck>& checks, const Limits& limits) {
  std::size_t best = checks.size();
  std::size_t best_count = 0;
  // Every backend passed over or short of a requested limit; any makes the choice a fallback.
  std::string refusals;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const auto& check = checks[i];
    const std::string name(to_string(check.backend));
    if (!check.usable) {
      refusals += "; " + name + " refused: " + check.detail;
      continue;
    }
    std::string missing;
    const auto count = enforced_count(check, limits, missing);
    if (missing.empty()) {
      return CheckChoice{i, !refusals.empty(),
                         name +
                             " is the strongest backend that works here and enforces every "
                             "requested limit" +
                             refusals};
    }
    refusals += "; " + name + " cannot enforce " + missing;
    if (best == checks.size() || count > best_count) {
      best = i;
      best_count = count;
    }
  }
  if (best == checks.size()) throw StartError("no containment backend can be used here" + refusals);
  return CheckChoice{best, true,
                     std::string(to_string(checks[best].backend)) +
                         " enforces the most requested limits, not all of them" + refusals};
}

BackendChoice select_backend(Containment containment, const Limits& limits,
                             const std::filesystem::path& cgroup_v2_base) {
  auto backends = all_backends(cgroup_v2_base);
  std::vector<BackendCheck> checks;
  for (const auto& backend : backends) checks.push_back(backend->check());
  if (containment == Containment::automatic) {
    auto choice = choose_backend(checks, limits);
    return BackendChoice{std::move(backends[choice.index]), choice.fallback, std::move(choice.why)};
  }
  std::size_t index = 0;
  while (backends[index]->kind() != containment) ++index;
  if (!checks[index].usable) {
    throw StartError(std::string("containment ") + std::string(to_string(containment)) +
                     " cannot be used here: " + checks[index].detail +
                     (checks[index].fix.empty() ? "" : "; fix: " + checks[index].fix));
  }
  return BackendChoice{std::move(backends[index]), false,
                       std::string(to_string(containment)) + " was asked for"};
}

}  // namespace detail

ProbeReport probe(const Options& options) {
  ProbeReport report;
  auto backends = detail::all_backends(options.cgroup_v2_base);
  for (const auto& backend : backends) report.backends.push_back(backend->check());
  report.hardening = detail::check_hardening();
  for (auto& check : report.hardening) {
    // The strict profile also needs its root, which only a trial spawn can tell.
    if (check.limit != "strict" || !check.enforceable) continue;
    if (auto failure = detail::strict_trial_failure(options); !failure.empty()) {
      check = {"strict", false, std::move(failure), detail::sandbox_fix()};
    }
  }
  if (!options.protection.trusted_plugin) report.protection = detail::check_sandbox(options);
  if (options.containment == Containment::automatic) {
    auto choice = detail::choose_backend(report.backends, options.limits);
    report.chosen = report.backends[choice.index].backend;
    report.why_chosen = std::move(choice.why);
  } else {
    report.chosen = options.containment;
    report.why_chosen = std::string(to_string(options.containment)) + " was asked for";
  }
  return report;
}

std::string ProbeReport::to_text() const {
  std::string text;
  for (const auto& backend : backends) {
    text += std::string(to_string(backend.backend)) + ": " + (backend.usable ? "usable" : "NOT usable") +
            " — " + backend.detail + "\n";
    if (!backend.fix.empty()) text += "    fix: " + backend.fix + "\n";
    for (const auto& limit : backend.limits) {
      text += "    " + limit.limit + ": " + (limit.enforceable ? "enforceable" : "not enforceable") + " — " +
              limit.how + "\n";
      if (!limit.fix.empty()) text += "        fix: " + limit.fix + "\n";
    }
  }
  text += "chosen: " + std::string(to_string(chosen)) + " (" + why_chosen + ")\n";
  text += "hardening (Options::hardening, off by default):\n";
  for (const auto& measure : hardening) {
    text += "    " + measure.limit + ": " + (measure.enforceable ? "available" : "NOT available") + " — " +
            measure.how + "\n";
    if (!measure.fix.empty()) text += "        fix: " + measure.fix + "\n";
  }
  if (protection.empty()) {
    text += "protection (Options::protection): off, the plugins are trusted\n";
  } else {
    text += "protection (Options::protection, on by default):\n";
  }
  for (const auto& measure : protection) {
    text += "    " + measure.limit + ": " + (measure.enforceable ? "available" : "NOT available") + " — " +
            measure.how + "\n";
    if (!measure.fix.empty()) text += "        fix: " + measure.fix + "\n";
  }
  return text;
}

}  // namespace isolator
