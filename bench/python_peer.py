#!/usr/bin/env python3
"""The peer in the same run: Python's concurrent.futures.ProcessPoolExecutor, the obvious
alternative to isolator, doing the same work (a call that returns at once).

Prints JSON: the median warm call (one worker already running) and the median first call
(a new executor's first result), both in microseconds, and the start method used.
"""
import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor


def noop(x):
    return x


def warm_call_us(calls=5000, warmup=500):
    with ProcessPoolExecutor(max_workers=1) as pool:
        for i in range(warmup):
            pool.submit(noop, i).result()
        samples = []
        for i in range(calls):
            start = time.perf_counter_ns()
            pool.submit(noop, i).result()
            samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def first_call_us(rounds=30):
    samples = []
    for i in range(rounds):
        start = time.perf_counter_ns()
        pool = ProcessPoolExecutor(max_workers=1)
        pool.submit(noop, i).result()
        samples.append(time.perf_counter_ns() - start)
        pool.shutdown()
    return statistics.median(samples) / 1000


def main():
    json.dump({
        "python": sys.version.split()[0],
        "start_method": multiprocessing.get_start_method(),
        "warm_call_us": warm_call_us(),
        "first_call_us": first_call_us(),
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
