"""What every benchmark script shares: the machine, its load, best-of timing and the record.

Why: a throughput figure means nothing without the machine it ran on and how busy that machine
was. Every script prints one Markdown section that carries the CPU model, cores, torch version,
threads, date and the 1-minute load average before and after, the exact command, and then a
`RESULT {json}` line (what tests and other tools read). `--record` appends the section to
bench/RESULTS.md.

The scripts live outside the package on purpose (they are not part of paragrid's API); they
import this module as a sibling (`python bench/<name>.py` puts bench/ on sys.path).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shlex
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> float:
    """1-minute load average: the machine is shared, so every figure carries it."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def children_peak_rss_mib() -> float:
    """Largest peak RSS of any finished child process (e.g. extraction or Ray workers we waited for)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def machine(threads: int | None = None, device: str = "cpu") -> dict:
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": threads if threads is not None else torch.get_num_threads(),
        "device": device,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def command() -> str:
    """The command that produced a figure, as someone would retype it in the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(Path.cwd())
    except ValueError:
        pass
    try:   # this repository's .venv, else the machine's own python (a stock GPU image)
        python = str(Path(sys.executable).relative_to(Path.cwd()))
    except ValueError:
        python = "python"
    return shlex.join([python, str(script), *sys.argv[1:]])


def sync(device: str) -> None:
    """Wait for queued GPU work so that a timer measures it (a no-op on the CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(torch.device(device))


def md_table(headers: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def parser(doc: str) -> argparse.ArgumentParser:
    """The command line every script shares: its docstring's first paragraph as the description,
    the rest shown as written, and --record."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="store_true", help="append the section to bench/RESULTS.md")
    return ap


def section(title: str, info: dict, load_before: float, load_after: float, body: str) -> str:
    gpu = f", GPU {info['gpu']}" if "gpu" in info else ""
    return (f"### {title}\n\n"
            f"- command: `{command()}`\n"
            f"- machine: {info['cpu']}, {info['cores']} cores{gpu}; torch {info['torch']}, "
            f"threads {info['threads']}, device {info['device']}; {info['date']}\n"
            f"- load average (1 min) before / after: {load_before} / {load_after}\n\n"
            f"{body}\n")


def emit(text: str, result: dict, record: bool, path: Path = RESULTS) -> None:
    """Print the Markdown section and the machine-readable RESULT line; append the section to
    RESULTS.md when asked (the file is a log: new figures go to the end, nothing is rewritten)."""
    print(text)
    print("RESULT " + json.dumps(result, sort_keys=True, default=float))
    if record:
        with open(path, "a") as fh:
            fh.write("\n" + text)
        print(f"(appended to {path})")


@contextmanager
def contained(threads: int | None = None, loggers: tuple[str, ...] = ()):
    """Quiet a benchmark (random labels make the trainer warn about single-class folds) and set
    torch's threads, then put every setting back: tests run the scripts' main() in-process."""
    import torch

    threads_before = torch.get_num_threads()
    disable_before = logging.root.manager.disable
    levels_before = {name: logging.getLogger(name).level for name in loggers}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        for name in loggers:
            logging.getLogger(name).setLevel(logging.ERROR)
        if threads:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(threads_before)
            logging.disable(disable_before)
            for name, level in levels_before.items():
                logging.getLogger(name).setLevel(level)


def best_of(fn, rounds: int, reps: int = 1, device: str = "cpu") -> tuple[float, float]:
    """Shortest mean wall time and shortest mean CPU time (this process) of `reps` calls over
    `rounds` tries. On a shared machine the minimum is the try that was least disturbed, the
    closest to what the code itself costs; CPU time leaves out the time other processes ran."""
    fn()
    sync(device)
    wall = cpu = float("inf")
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(reps):
            fn()
        sync(device)
        wall = min(wall, (time.perf_counter() - t) / reps)
        cpu = min(cpu, (time.process_time() - c) / reps)
    return wall, cpu
