// The Linux Launcher: pihost found, the containment backend chosen and checked, the private
// directory made, hardening planned, once per supervisor; then one Child per start.
#include "child.hpp"
#include "containment/backend.hpp"
#include "hardening.hpp"
#include "log.hpp"
#include "options_check.hpp"
#include "pihost_locator.hpp"
#include "platform/child_process.hpp"
#include "private_directory.hpp"
#include "sandbox.hpp"
#include "seccomp_allow_list.hpp"
#include "spawn.hpp"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sched.h>

#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace isolator::detail {

namespace {

// True the first time this process asks about `text`.
bool said_for_the_first_time(const std::string& text) {
  static std::mutex mutex;
  static std::set<std::string> said;
  std::lock_guard lock(mutex);
  return said.insert(text).second;
}

class LinuxLauncher final : public Launcher {
 public:
  explicit LinuxLauncher(const Options& options) {
    // Names before machines: a misspelt call is an OptionsError everywhere.
    if (options.hardening.strict) check_allow_syscalls(options.hardening.allow_syscalls);
    spec_.pihost = locate_pihost(options.pihost_path);
    // The strict root shows each path at its canonical place only: a link on the way to
    // pihost or the private directory would lead nowhere there.
    if (options.hardening.strict) spec_.pihost = std::filesystem::canonical(spec_.pihost);
    sweep_stale_once(PrivateDirectory::base_directory(), options.cgroup_v2_base);
    auto choice = select_backend(options.containment, options.limits, options.cgroup_v2_base);
    backend_ = std::move(choice.backend);
    containment_ = std::string(to_string(backend_->kind()));
    spec_.backend = backend_.get();
    spec_.limits = enforceable_limits(options, backend_->check());
    // A fallback from a stronger backend is worth a line at the default level, once per
    // process and reason (a pool, or a host with many isolators, would repeat it for each);
    // the usual choice is not.
    if (choice.fallback && said_for_the_first_time(choice.why)) {
      log().info("containment: {} ({})", containment_, choice.why);
    } else {
      log().debug("containment: {} ({})", containment_, choice.why);
    }
    directory_.emplace();
    spec_.directory = options.hardening.strict ? std::filesystem::weakly_canonical(directory_->path())
                                               : directory_->path();
    spec_.environment = child_environment(options);
    spec_.start_timeout = options.start_timeout;
    spec_.max_frame_bytes = options.max_frame_bytes;
    spec_.max_result_bytes = result_bytes_cap(options);
    spec_.allow_core_dumps = options.allow_core_dumps;
    // With core dumps on, the crashed process's core is kept instead (crash_capture.hpp).
    if (options.crash_reports && !options.allow_core_dumps) spec_.crash_report_time = crash_report_time(options);
    require_hardening(options.hardening);
    hardening_ = options.hardening;
    require_protection_ = options.protection.require;
    spec_.max_line_bytes = options.max_line_bytes;
    plan_protection(options);
  }

  std::shared_ptr<ChildProcess> start(const boost::asio::any_io_executor& executor,
                                      ChildListener& listener) override {
    if (!spec_.sandbox.enabled) return Child::start(executor, spec_, listener);
    try {
      auto child = Child::start(executor, spec_, listener);
      sandbox_made_ = true;
      return child;
    } catch (const SandboxSetupError& e) {
      // Once made here, the sandbox is something this machine provides: a later failure is a
      // passing condition (a namespace or mount count reached, say), and fails this start.
      if (sandbox_made_) throw;
      // The machine cannot make the sandbox (this isolator's first spawn finds out): say so
      // (once per process and reason), then run without it, unless protection is required.
      give_up_sandbox(e.what());
      return Child::start(executor, spec_, listener);
    }
  }

  const std::string& containment() const override { return containment_; }
  const Limits& limits() const override { return spec_.limits; }
  std::string pihost() const override { return spec_.pihost.string(); }

 private:
  void plan_protection(const Options& options) {
    const bool trusted = options.protection.trusted_plugin;
    if (!trusted) {
      SandboxChoice choice = plan_sandbox(options, spec_.pihost, spec_.directory);
      for (const auto& missing : choice.missing) report_missing(missing.limit, missing.how, missing.fix);
      spec_.sandbox = std::move(choice.plan);
      if (sandbox_child_uid(spec_.sandbox) != ::geteuid()) {
        hand_over_private_directory(spec_.directory, sandbox_child_uid(spec_.sandbox),
                                    sandbox_child_gid(spec_.sandbox));
      }
    }
    spec_.hardening = plan_hardening(hardening_, spec_.sandbox.enabled);
  }

  void give_up_sandbox(const std::string& why) {
    if (hardening_.strict) {
      throw StartError("the strict profile (Options::hardening.strict) cannot be made here: " + why +
                       "; fix: where the step names a path, make it reachable by the child's user (uid " +
                       std::to_string(sandbox_child_uid(spec_.sandbox)) +
                       ") or leave it out of the options; otherwise " + sandbox_fix());
    }
    report_missing("sandbox", why, sandbox_fix());
    const bool handed_over = sandbox_child_uid(spec_.sandbox) != ::geteuid();
    spec_.sandbox = SandboxPlan{};
    if (handed_over) hand_over_private_directory(spec_.directory, ::geteuid(), ::getegid());
    spec_.hardening = plan_hardening(hardening_, false);
  }

  // Throws when protection is required; otherwise a warning, once per process and reason.
  void report_missing(const std::string& measure, const std::string& why, const std::string& fix) {
    const std::string text = "protection missing: " + measure + ": " + why + "; fix: " + fix;
    if (require_protection_) {
      throw StartError(text + " (Options::protection.require is set, so the start fails)");
    }
    if (said_for_the_first_time(text)) log().warn("{}", text);
  }

  std::unique_ptr<Backend> backend_;
  Hardening hardening_;
  bool require_protection_ = false;
  bool sandbox_made_ = false;  // a sandboxed start has worked: never give the sandbox up after
  std::string containment_;
  std::optional<PrivateDirectory> directory_;
  ChildSpec spec_;
};

}  // namespace

std::unique_ptr<Launcher> make_launcher(const Options& options) {
  return std::make_unique<LinuxLauncher>(options);
}

std::vector<std::filesystem::path> loadable_directories(const Options& options) {
  return strict_library_directories(options.hardening);
}

int affinity_cpu_count() { return CPU_SETSIZE; }

void name_this_thread(const char* name) { ::pthread_setname_np(::pthread_self(), name); }

std::size_t usable_cpus(const std::vector<int>& affinity) {
  return std::max<std::size_t>(1, affinity.empty() ? std::thread::hardware_concurrency() : affinity.size());
}

}  // namespace isolator::detail
