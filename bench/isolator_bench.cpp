// isolator's benchmarks, each beside its floor in the same run (see docs/performance.md).
// Run by `./build.sh bench`, which also runs the Python peer and prints the table.
//
// Names: <figure>/<variant>/<placement>. Every benchmark is repeated and reported by its
// aggregates (median first); bench/report.py reads the JSON and computes the ratios.
#include "floors.hpp"

#include <isolator/isolator.hpp>

#include <benchmark/benchmark.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using bench::Placement;
using namespace std::chrono_literals;

constexpr int repetitions = 5;
const Placement all_placements[] = {Placement::same_cpu, Placement::cross_cpu, Placement::scheduler};

std::string noop_plugin() { return ISOLATOR_BENCH_PLUGIN; }

isolator::Options base_options(Placement placement = Placement::scheduler) {
  isolator::Options options;
  options.pihost_path = ISOLATOR_BENCH_PIHOST;
  if (const int cpu = bench::child_cpu(placement); cpu >= 0) options.limits.cpu_affinity = {cpu};
  return options;
}

isolator::Invocation noop_call(std::vector<std::string> args = {}) {
  return isolator::Invocation{noop_plugin(), "method", std::move(args), {}, {}};
}

void check(const isolator::CallResult& result, benchmark::State& state) {
  if (!result.ok()) state.SkipWithError(("call failed: " + result.failure->message).c_str());
}

// ---- warm round trip ---------------------------------------------------------------------

// Floor: a 96-byte message (about an Invoke's size) echoed by a raw socket child.
void raw_echo(benchmark::State& state, Placement placement) {
  bench::HostPin pin(placement);
  bench::EchoChild child(placement, 96);
  for (int i = 0; i < 1000; ++i) child.round_trip();  // warm-up
  for (auto _ : state) child.round_trip();
}

void warm_invoke(benchmark::State& state, Placement placement) {
  bench::HostPin pin(placement);  // before create: the isolator's I/O thread inherits it
  auto isolator = isolator::ProcessIsolator::create(base_options(placement));
  for (int i = 0; i < 1000; ++i) check(isolator->invoke(noop_call()), state);
  for (auto _ : state) {
    auto result = isolator->invoke(noop_call());
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}

// The same warm call under cgroup v1 with a memory, a pids and a CPU-share limit: the limit
// files a box writes, which the host reads again at call boundaries, so this is the figure
// that shows what watching them costs (automatic containment above sets no limit here).
void warm_invoke_limited(benchmark::State& state, Placement placement) {
  bench::HostPin pin(placement);
  isolator::Options options = base_options(placement);
  options.containment = isolator::Containment::cgroup_v1;
  options.limits.memory_bytes = 256ull << 20;
  options.limits.max_pids = 64;
  options.limits.cpu_percent = 100;
  options.require_limits = true;
  std::unique_ptr<isolator::ProcessIsolator> isolator;
  try {
    isolator = isolator::ProcessIsolator::create(options);
  } catch (const isolator::Error& e) {
    state.SkipWithError((std::string("cgroup v1 with limits cannot run here: ") + e.what()).c_str());
    return;
  }
  for (int i = 0; i < 1000; ++i) check(isolator->invoke(noop_call()), state);
  for (auto _ : state) {
    auto result = isolator->invoke(noop_call());
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}

// ---- throughput --------------------------------------------------------------------------

// Keeps `in_flight` async calls outstanding until `total` have completed.
template <typename Target>
void pipelined(Target& target, int total, int in_flight) {
  std::mutex mutex;
  std::condition_variable done;
  int completed = 0;
  std::atomic<int> submitted{0};
  std::function<void()> submit_one;
  submit_one = [&] {
    if (submitted.fetch_add(1) >= total) return;
    target.async_invoke(noop_call(), [&](isolator::CallResult) {
      submit_one();
      std::lock_guard lock(mutex);
      if (++completed == total) done.notify_one();
    });
  };
  for (int i = 0; i < in_flight; ++i) submit_one();
  std::unique_lock lock(mutex);
  done.wait(lock, [&] { return completed == total; });
}

void one_child_pipelined(benchmark::State& state) {
  auto isolator = isolator::ProcessIsolator::create(base_options());
  constexpr int batch = 2000;
  pipelined(*isolator, batch, 64);  // warm-up
  for (auto _ : state) pipelined(*isolator, batch, 64);
  state.SetItemsProcessed(state.iterations() * batch);
}

std::unique_ptr<isolator::IsolatorPool> shared_pool;

void make_pool(const benchmark::State&) {
  isolator::PoolOptions options;
  options.isolator = base_options();
  options.size = 2;
  options.max_queue = 100000;
  shared_pool = isolator::IsolatorPool::create(options);
  for (int i = 0; i < 1000; ++i) shared_pool->invoke(noop_call());
}
void drop_pool(const benchmark::State&) { shared_pool.reset(); }

void pool_blocking(benchmark::State& state) {
  for (auto _ : state) {
    auto result = shared_pool->invoke(noop_call());
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}

void pool_pipelined(benchmark::State& state) {
  constexpr int batch = 4000;
  for (auto _ : state) pipelined(*shared_pool, batch, 256);
  state.SetItemsProcessed(state.iterations() * batch);
}

// ---- cold call and restart ---------------------------------------------------------------

void tiny_child(benchmark::State& state) {
  for (int i = 0; i < 10; ++i) bench::run_tiny_child(ISOLATOR_BENCH_TINY_CHILD, noop_plugin());
  for (auto _ : state) bench::run_tiny_child(ISOLATOR_BENCH_TINY_CHILD, noop_plugin());
}

// create isolator -> first result; the shutdown that follows is not timed.
void cold_call(benchmark::State& state, isolator::Options options) {
  options.supervision.heartbeat_interval = 0ms;
  for (auto _ : state) {
    auto isolator = isolator::ProcessIsolator::create(options);
    check(isolator->invoke(noop_call()), state);
    state.PauseTiming();
    isolator.reset();
    state.ResumeTiming();
  }
}

isolator::Options with_containment(isolator::Containment containment) {
  isolator::Options options = base_options();
  options.containment = containment;
  if (containment == isolator::Containment::cgroup_v1) options.limits.memory_bytes = 256ull << 20;
  return options;
}

// The same cold call from a host with 1 GiB resident: spawning must not copy page tables.
void cold_call_big_host(benchmark::State& state) {
  constexpr std::size_t gib = std::size_t{1} << 30;
  std::unique_ptr<char[]> resident(new char[gib]);
  std::memset(resident.get(), 1, gib);  // touched: resident, not just reserved
  benchmark::DoNotOptimize(resident.get());
  cold_call(state, with_containment(isolator::Containment::rlimit));
}

// A child replaced at once after every crash, for as many crashes as the benchmark makes.
isolator::Options restarting_at_once(bool crash_reports) {
  isolator::Options options = base_options();
  options.crash_reports = crash_reports;
  options.supervision.backoff_initial = 0ms;
  options.supervision.backoff_max = 0ms;
  options.supervision.max_restarts = 1'000'000;
  options.supervision.heartbeat_interval = 0ms;
  return options;
}

// A crashing call, then the first result of the replacement child. `crash_reports`: whether
// the crash's stack is read first (Options::crash_reports); without it, the restart alone.
void restart_after_crash(benchmark::State& state, bool crash_reports) {
  const isolator::Options options = restarting_at_once(crash_reports);
  auto isolator = isolator::ProcessIsolator::create(options);
  const isolator::Invocation crash{ISOLATOR_BENCH_CRASH_PLUGIN, "method", {}, {}, {}};
  for (auto _ : state) {
    if (isolator->invoke(crash).ok()) state.SkipWithError("the crashing plugin returned");
    check(isolator->invoke(noop_call()), state);
  }
}

// The same with Supervision::spare_child: the replacement is the spare, started beforehand.
// Each crash is timed once a spare is ready (a crash loop faster than a spawn would find
// none, and start a child as without one).
void restart_with_spare(benchmark::State& state, bool trusted) {
  isolator::Options options = restarting_at_once(false);
  options.protection.trusted_plugin = trusted;
  options.supervision.spare_child = true;
  auto spares = std::make_shared<std::atomic<long>>(0);
  options.on_event = [spares](const isolator::Event& event) {
    if (const auto* started = std::get_if<isolator::StartedEvent>(&event); started && started->spare) ++*spares;
  };
  auto isolator = isolator::ProcessIsolator::create(options);
  check(isolator->invoke(noop_call()), state);
  const isolator::Invocation crash{ISOLATOR_BENCH_CRASH_PLUGIN, "method", {}, {}, {}};
  long taken = 0;
  for (auto _ : state) {
    state.PauseTiming();
    while (spares->load() <= taken) std::this_thread::sleep_for(50us);
    ++taken;
    state.ResumeTiming();
    if (isolator->invoke(crash).ok()) state.SkipWithError("the crashing plugin returned");
    check(isolator->invoke(noop_call()), state);
  }
}

// The cost of a crash report per crash: warnings are logged at each (the report), so the
// log is quieted while it runs.
void restart_after_crash_with_report(benchmark::State& state) {
  const auto level = isolator::logger()->level();
  isolator::logger()->set_level(spdlog::level::err);
  restart_after_crash(state, true);
  isolator::logger()->set_level(level);
}

// ---- size and bulk -----------------------------------------------------------------------

std::int64_t status_field(int pid, const std::string& file, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream value(line.substr(field.size() + 1));
      std::int64_t kib = 0;
      value >> kib;
      return kib * 1024;
    }
  }
  return -1;
}

// Not a timing: the idle child's memory, as counters (bytes).
void pihost_idle_memory(benchmark::State& state) {
  auto isolator = isolator::ProcessIsolator::create(base_options());
  check(isolator->invoke(noop_call()), state);
  std::this_thread::sleep_for(100ms);
  const int pid = isolator->pid();
  for (auto _ : state) benchmark::DoNotOptimize(pid);
  state.counters["VmRSS"] = static_cast<double>(status_field(pid, "status", "VmRSS"));
  state.counters["Pss"] = static_cast<double>(status_field(pid, "smaps_rollup", "Pss"));
  state.counters["Private_Dirty"] = static_cast<double>(status_field(pid, "smaps_rollup", "Private_Dirty"));
}

constexpr std::size_t mib = std::size_t{1} << 20;

void raw_bulk(benchmark::State& state) {
  bench::EchoChild child(Placement::scheduler, mib, 1);
  for (auto _ : state) child.round_trip();
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(mib));
}

void bulk_arguments(benchmark::State& state) {
  auto isolator = isolator::ProcessIsolator::create(base_options());
  const auto call = noop_call({std::string(mib, 'a')});
  for (auto _ : state) check(isolator->invoke(call), state);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(mib));
}

template <typename B>
B* repeated(B* b) {
  return b->Repetitions(repetitions)->ReportAggregatesOnly(true)->UseRealTime();
}

void register_all() {
  for (const Placement p : all_placements) {
    const std::string where = bench::name(p);
    repeated(benchmark::RegisterBenchmark(("warm_rtt/raw_echo/" + where).c_str(), raw_echo, p));
    repeated(benchmark::RegisterBenchmark(("warm_rtt/invoke/" + where).c_str(), warm_invoke, p));
  }
  repeated(benchmark::RegisterBenchmark("warm_rtt/invoke_cgroup_v1_limits/same_cpu", warm_invoke_limited,
                                        Placement::same_cpu));
  repeated(benchmark::RegisterBenchmark("throughput/one_child_pipelined/scheduler", one_child_pipelined));
  repeated(benchmark::RegisterBenchmark("throughput/pool2_blocking/scheduler", pool_blocking))
      ->Threads(2)
      ->Setup(make_pool)
      ->Teardown(drop_pool);
  repeated(benchmark::RegisterBenchmark("throughput/pool2_pipelined/scheduler", pool_pipelined))
      ->Setup(make_pool)
      ->Teardown(drop_pool);
  repeated(benchmark::RegisterBenchmark("cold/tiny_c_child/scheduler", tiny_child))
      ->Unit(benchmark::kMicrosecond);
  repeated(benchmark::RegisterBenchmark("cold/invoke_rlimit/scheduler", cold_call,
                                        with_containment(isolator::Containment::rlimit)))
      ->Unit(benchmark::kMicrosecond);
  // The default sandbox's cost: the same cold call with Options::protection.trusted_plugin.
  isolator::Options trusted = with_containment(isolator::Containment::rlimit);
  trusted.protection.trusted_plugin = true;
  repeated(benchmark::RegisterBenchmark("cold/invoke_rlimit_trusted/scheduler", cold_call, trusted))
      ->Unit(benchmark::kMicrosecond);
  // The strict profile's cost: its own root, network and UTS namespaces, the allow-list.
  isolator::Options strict = with_containment(isolator::Containment::rlimit);
  strict.hardening.strict = true;
  strict.hardening.plugin_directories = {std::filesystem::path(ISOLATOR_BENCH_PLUGIN).parent_path()};
  repeated(benchmark::RegisterBenchmark("cold/invoke_rlimit_strict/scheduler", cold_call, strict))
      ->Unit(benchmark::kMicrosecond);
  // Crash reports' start-up cost: the same cold call without pihost's crash handler.
  isolator::Options no_crash_reports = with_containment(isolator::Containment::rlimit);
  no_crash_reports.crash_reports = false;
  repeated(benchmark::RegisterBenchmark("cold/invoke_rlimit_no_crash_reports/scheduler", cold_call,
                                        no_crash_reports))
      ->Unit(benchmark::kMicrosecond);
  repeated(benchmark::RegisterBenchmark("cold/invoke_auto/scheduler", cold_call,
                                        with_containment(isolator::Containment::automatic)))
      ->Unit(benchmark::kMicrosecond);
  repeated(benchmark::RegisterBenchmark("cold/invoke_cgroup_v1/scheduler", cold_call,
                                        with_containment(isolator::Containment::cgroup_v1)))
      ->Unit(benchmark::kMicrosecond);
  repeated(benchmark::RegisterBenchmark("cold/invoke_rlimit_1GiB_host/scheduler", cold_call_big_host))
      ->Unit(benchmark::kMicrosecond)
      ->Repetitions(3);
  repeated(benchmark::RegisterBenchmark("restart/crash_to_next_result/scheduler", restart_after_crash, false))
      ->Unit(benchmark::kMicrosecond);
  repeated(benchmark::RegisterBenchmark("restart/crash_to_next_result_with_spare/scheduler", restart_with_spare,
                                        false))
      ->Unit(benchmark::kMicrosecond);
  repeated(benchmark::RegisterBenchmark("restart/crash_to_next_result_with_spare_trusted/scheduler",
                                        restart_with_spare, true))
      ->Unit(benchmark::kMicrosecond);
  repeated(benchmark::RegisterBenchmark("restart/crash_with_report_to_next_result/scheduler",
                                        restart_after_crash_with_report))
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("memory/pihost_idle", pihost_idle_memory)->Iterations(1);
  repeated(benchmark::RegisterBenchmark("bulk/raw_socket_1MiB/scheduler", raw_bulk))
      ->Unit(benchmark::kMicrosecond);
  repeated(benchmark::RegisterBenchmark("bulk/invoke_1MiB_argument/scheduler", bulk_arguments))
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  isolator::logger()->set_level(spdlog::level::warn);  // restarts log at info; keep the table readable
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
