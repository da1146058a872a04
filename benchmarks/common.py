"""Shared helpers for benchmarks: timing by medians, and a line that names the machine."""
import os
import platform
import statistics
import time


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def median_time(fn, repeat=7, number=None, min_seconds=0.2):
    """Median seconds per call of fn over `repeat` runs of `number` calls (chosen to last
    about min_seconds when not given)."""
    fn()
    if number is None:
        number, start = 1, time.perf_counter()
        while time.perf_counter() - start < min_seconds / 10:
            fn()
            number += 1
        number = max(1, number * 10)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)
