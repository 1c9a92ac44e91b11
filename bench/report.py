#!/usr/bin/env python3
"""Turns one run of isolator_bench (Google Benchmark JSON) and of python_peer.py into the
table of docs/performance.md: each figure, its floor from the same run, the ratio, the
target and whether it is met.

usage: report.py BENCH_JSON PYTHON_JSON [MARKDOWN_OUT]
"""
import json
import re
import sys


def base_name(run_name):
    """'warm_rtt/invoke/same_cpu/repeats:5/real_time' -> 'warm_rtt/invoke/same_cpu'."""
    return "/".join(part for part in run_name.split("/")
                    if not re.match(r"(repeats|threads|iterations|min_time):|real_time$", part))


def load(bench_path):
    with open(bench_path) as f:
        data = json.load(f)
    medians, singles = {}, {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") == "median":
            medians[base_name(b["run_name"])] = b
        elif b.get("run_type") == "iteration":
            singles[base_name(b["run_name"])] = b
    return data["context"], medians, singles


def micros(b):
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
    return b["real_time"] * scale


def main():
    context, med, single = load(sys.argv[1])
    with open(sys.argv[2]) as f:
        peer = json.load(f)
    rows = []

    def find(name):
        return med[name]

    def us(name):
        return micros(find(name))

    def row(figure, placement, value, floor, ratio, target, met):
        rows.append((figure, placement, value, floor, ratio, target,
                     "" if met is None else "yes" if met else "**no**"))

    # Warm round trips.
    for where in ("same_cpu", "cross_cpu", "scheduler"):
        ours, raw = us("warm_rtt/invoke/" + where), us("warm_rtt/raw_echo/" + where)
        target = 1.3 if where != "scheduler" else None
        row("warm call round trip, blocking invoke", where, f"{ours:.1f} µs",
            f"raw socket echo {raw:.1f} µs", f"{ours / raw:.2f}×",
            "≤ 1.3× the raw echo" if target else "(see the next row)",
            ours / raw <= 1.3 if target else None)
    same, sched = us("warm_rtt/invoke/same_cpu"), us("warm_rtt/invoke/scheduler")
    row("warm round trip left to the scheduler", "scheduler vs same_cpu", f"{sched:.1f} µs",
        f"same CPU {same:.1f} µs", f"{sched / same:.2f}×", "≤ 1.5× the same-CPU figure",
        sched / same <= 1.5)
    limited = med.get("warm_rtt/invoke_cgroup_v1_limits/same_cpu")
    if limited is not None and not limited.get("error_occurred"):
        ours = micros(limited)
        row("warm call round trip, cgroup v1 with memory, pids and CPU limits", "same_cpu",
            f"{ours:.1f} µs", f"no limits (automatic) {same:.1f} µs", f"{ours / same:.2f}×",
            "(reported, no target)", None)

    # Throughput.
    def per_second(name):
        return find(name)["items_per_second"]

    best_blocking = max(per_second("warm_rtt/invoke/" + w) for w in ("same_cpu", "cross_cpu", "scheduler"))
    row("calls/s through one child, blocking", "best placement", f"{best_blocking:,.0f}/s",
        "", "", "≥ 65,000/s", best_blocking >= 65000)
    v = per_second("throughput/one_child_pipelined/scheduler")
    row("calls/s through one child, 64 in flight", "scheduler", f"{v:,.0f}/s", "", "",
        "≥ 200,000/s", v >= 200000)
    v = per_second("throughput/pool2_blocking/scheduler")
    row("calls/s through a pool of 2, 2 blocking threads", "scheduler", f"{v:,.0f}/s", "", "",
        "≥ 120,000/s", v >= 120000)
    v = per_second("throughput/pool2_pipelined/scheduler")
    row("calls/s through a pool of 2, 256 in flight", "scheduler", f"{v:,.0f}/s", "", "",
        "≥ 400,000/s", v >= 400000)

    # Cold call, restart, big host, cgroups.
    tiny = us("cold/tiny_c_child/scheduler")
    cold = us("cold/invoke_auto/scheduler")
    cold_rl = us("cold/invoke_rlimit/scheduler")
    cold_v1 = us("cold/invoke_cgroup_v1/scheduler")
    row("cold call: create isolator → first result (auto containment)", "scheduler",
        f"{cold / 1000:.2f} ms", f"tiny C child {tiny / 1000:.2f} ms", f"{cold / tiny:.2f}×",
        "≤ 1.5× the tiny C child", cold / tiny <= 1.5)
    restart = us("restart/crash_to_next_result/scheduler")
    row("restart: crashing call → first result of the replacement (crash reports off)", "scheduler",
        f"{restart / 1000:.2f} ms", f"cold call {cold / 1000:.2f} ms", f"{restart / cold:.2f}×",
        "≤ 1.5× the cold call", restart / cold <= 1.5)
    spare = us("restart/crash_to_next_result_with_spare/scheduler")
    warm = us("warm_rtt/invoke/scheduler")
    row("restart with a spare child (Supervision::spare_child): crashing call → first result", "scheduler",
        f"{spare / 1000:.2f} ms", f"warm call {warm:.1f} µs", f"{spare / warm:.2f}×",
        "≤ 3× a warm call", spare / warm <= 3)
    reported = us("restart/crash_with_report_to_next_result/scheduler")
    row("the same with the crash's report (its stack read and named)", "scheduler",
        f"{reported / 1000:.2f} ms", f"without {restart / 1000:.2f} ms", f"{reported / restart:.2f}×",
        "(reported, no target)", None)
    big = us("cold/invoke_rlimit_1GiB_host/scheduler")
    row("cold call from a host with 1 GiB resident", "scheduler", f"{big / 1000:.2f} ms",
        f"small host {cold_rl / 1000:.2f} ms", f"{big / cold_rl:.2f}×", "≤ 1.5× the small host",
        big / cold_rl <= 1.5)
    for label, value in (("cgroup v2 (auto here)", cold), ("cgroup v1 + memory limit", cold_v1)):
        added = (value - cold_rl) / 1000
        row(f"cgroup cost per isolate: {label}", "scheduler", f"{added:+.2f} ms",
            f"rlimit cold call {cold_rl / 1000:.2f} ms", f"{value / cold_rl:.2f}×",
            "≤ 0.2 ms added", added <= 0.2)
    trusted = us("cold/invoke_rlimit_trusted/scheduler")
    row("default sandbox cost per isolate (rlimit, vs trusted_plugin)", "scheduler",
        f"{(cold_rl - trusted) / 1000:+.2f} ms", f"trusted cold call {trusted / 1000:.2f} ms",
        f"{cold_rl / trusted:.2f}×", "(reported, no target)", None)
    unarmed = us("cold/invoke_rlimit_no_crash_reports/scheduler")
    row("crash handler's start-up cost per isolate (rlimit, vs crash_reports off)", "scheduler",
        f"{(cold_rl - unarmed) / 1000:+.3f} ms", f"cold call without {unarmed / 1000:.2f} ms",
        f"{cold_rl / unarmed:.3f}×", "(reported, no target)", None)
    strict = us("cold/invoke_rlimit_strict/scheduler")
    row("strict profile cost per isolate (rlimit, vs the default sandbox)", "scheduler",
        f"{(strict - cold_rl) / 1000:+.2f} ms", f"default cold call {cold_rl / 1000:.2f} ms",
        f"{strict / cold_rl:.2f}×", "(reported, no target)", None)

    # Memory and bulk.
    mem = single["memory/pihost_idle"]
    rss, dirty = mem["VmRSS"] / 1024, mem["Private_Dirty"] / 1024
    row("pihost idle VmRSS", "", f"{rss:,.0f} KiB", "", "", "≤ 3,072 KiB", rss <= 3072)
    row("pihost idle Private_Dirty", "", f"{dirty:,.0f} KiB", f"Pss {mem['Pss'] / 1024:,.0f} KiB",
        "", "≤ 512 KiB", dirty <= 512)
    ours = find("bulk/invoke_1MiB_argument/scheduler")["bytes_per_second"]
    raw = find("bulk/raw_socket_1MiB/scheduler")["bytes_per_second"]
    row("1 MiB of arguments", "scheduler", f"{ours / 1e9:.2f} GB/s", f"raw socket {raw / 1e9:.2f} GB/s",
        f"{ours / raw:.2f}×", "≥ 3 GB/s", ours >= 3e9)

    # The peer.
    row("peer: Python ProcessPoolExecutor warm call", "scheduler", f"{peer['warm_call_us']:.1f} µs",
        f"isolator warm call {sched:.1f} µs", f"Python ÷ isolator = {peer['warm_call_us'] / sched:.2f}",
        "(reported, no target)", None)
    row(f"peer: Python ProcessPoolExecutor first call ({peer['start_method']})", "scheduler",
        f"{peer['first_call_us'] / 1000:.2f} ms", f"isolator cold call {cold / 1000:.2f} ms",
        f"Python ÷ isolator = {peer['first_call_us'] / cold:.2f}", "(reported, no target)", None)

    header = ("figure", "placement", "median", "floor / comparison (same run)", "ratio", "target", "met")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    cpu = f"{context.get('num_cpus')} CPUs at {context.get('mhz_per_cpu')} MHz"
    text = (f"Run {context.get('date')} on {context.get('host_name')} ({cpu}); "
            f"Python {peer['python']}.\n\n" + "\n".join(lines) + "\n")
    print(text)
    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            f.write(text)
    targets = [r for r in rows if not r[5].startswith("(")]
    missed = [f"{r[0]} ({r[1]})" if r[1] else r[0] for r in targets if r[6] != "yes"]
    print(f"{len(targets) - len(missed)} of {len(targets)} targets met"
          + (". Missed: " + "; ".join(missed) if missed else ""))


if __name__ == "__main__":
    main()
