"""Ray's output to the run's log file, paragrid's lines to the console (grid/console/).

The redirect is of file descriptor 2 itself, so each case runs in a subprocess: pytest's own
capture sits on the same descriptors.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from paragrid.grid.console import RAY_LOGGERS, configure_ray_logging, ray_init_kwargs

SCRIPT = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    from paragrid.grid.console._output import ray_output_to

    log, verbose, ending = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
    fds = sorted(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else []
    try:
        with ray_output_to(log, verbose=verbose, title="demo") as con:
            os.write(2, b"[raylet] state dump after node loss\\n")  # C level, as Ray's core writes
            print("python-level stderr noise", file=sys.stderr)      # Ray's loggers write here
            subprocess.run(["sh", "-c", "echo child process noise >&2"])  # inherits fd 2
            con.say("paragrid line on stdout")
            con.say("paragrid line on stderr", err=True)
            print("(raylet) python-level stdout noise")  # Ray's driver prints cluster messages so
            con.say(f"captured={con.captured}")
            if ending == "raise":
                raise RuntimeError("boom")
            if ending == "ctrl-c":
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
                con.say("not interrupted")
    except RuntimeError:
        print("caught RuntimeError")
    except KeyboardInterrupt:
        print("caught KeyboardInterrupt")
    os.write(2, b"after: fd 2 is the terminal again\\n")
    after = sorted(os.listdir("/proc/self/fd")) if fds else []
    print(f"fds leaked={len(after) - len(fds)}")
""")


def _run(tmp_path: Path, verbose: bool, ending: str = "normal") -> tuple[subprocess.CompletedProcess, Path]:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    log = tmp_path / "logs" / "ray.log"
    proc = subprocess.run([sys.executable, str(script), str(log), "1" if verbose else "0", ending],
                          capture_output=True, text=True, timeout=60)
    return proc, log


NOISE = ("[raylet] state dump", "python-level stderr noise", "child process noise",
         "python-level stdout noise")


@pytest.mark.parametrize("ending", ["normal", "raise", "ctrl-c"])
def test_ray_output_goes_to_the_log_and_paragrid_lines_to_the_console(tmp_path, ending):
    proc, log = _run(tmp_path, verbose=False, ending=ending)
    assert proc.returncode == 0, proc.stderr
    for noise in NOISE:
        assert noise not in proc.stderr and noise not in proc.stdout
    assert "paragrid line on stderr" in proc.stderr and "paragrid line on stdout" in proc.stdout
    assert "captured=True" in proc.stdout
    # Restored on the way out, whatever the way: a normal end, an exception, Ctrl-C.
    assert proc.stderr.endswith("after: fd 2 is the terminal again\n")
    assert {"raise": "caught RuntimeError", "ctrl-c": "caught KeyboardInterrupt"}.get(ending, "captured") in proc.stdout
    assert "not interrupted" not in proc.stdout
    text = log.read_text()
    assert all(noise in text for noise in NOISE)
    assert text.startswith("---- ") and "demo: Ray's output (stderr) from here ----" in text.splitlines()[0]
    assert "paragrid line" not in text and "after:" not in text
    assert "fds leaked=0" in proc.stdout


def test_verbose_leaves_ray_output_on_the_console(tmp_path):
    proc, log = _run(tmp_path, verbose=True)
    assert proc.returncode == 0, proc.stderr
    assert all(noise in proc.stderr + proc.stdout for noise in NOISE)
    assert "paragrid line on stderr" in proc.stderr and "captured=False" in proc.stdout
    assert not log.exists()


def test_a_second_run_appends_to_the_log(tmp_path):
    _run(tmp_path, verbose=False)
    _, log = _run(tmp_path, verbose=False)
    assert log.read_text().count("[raylet] state dump") == 2


@pytest.fixture
def ray_logging_state(monkeypatch):
    """configure_ray_logging sets process-wide state: give it back after the test."""
    for key in ("RAY_AIR_NEW_OUTPUT", "TUNE_DISABLE_SIGINT_HANDLER", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS",
                "RAY_USAGE_STATS_ENABLED", "RAY_DEDUP_LOGS"):
        monkeypatch.delenv(key, raising=False)
    levels = {name: logging.getLogger(name).level for name in (*RAY_LOGGERS, "ray")}
    with warnings.catch_warnings():
        yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_ray_logging_keeps_warnings_only_where_they_do_not_reach_the_console(ray_logging_state):
    configure_ray_logging(verbose=False)
    assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1" and os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0" and os.environ["RAY_DEDUP_LOGS"] == "1"
    assert logging.getLogger("ray.tune").level == logging.CRITICAL
    assert logging.getLogger("ray").level == logging.ERROR
    assert any(f[0] == "ignore" and f[3] is not None and f[3].pattern.startswith("ray") for f in warnings.filters)
    configure_ray_logging(verbose=False, captured=True)  # Ray's stderr is in the log file
    assert logging.getLogger("ray.tune").level == logging.WARNING == logging.getLogger("ray").level
    assert ray_init_kwargs(False) == dict(include_dashboard=False, log_to_driver=False, configure_logging=True,
                                          logging_level=logging.ERROR)
    assert ray_init_kwargs(False, captured=True)["logging_level"] == logging.WARNING
    assert ray_init_kwargs(True)["log_to_driver"] is True


def test_user_settings_of_the_environment_win(ray_logging_state, monkeypatch):
    monkeypatch.setenv("RAY_DEDUP_LOGS", "0")
    configure_ray_logging(verbose=True)
    assert os.environ["RAY_DEDUP_LOGS"] == "0"
    assert logging.getLogger("ray.train").level == logging.WARNING


RAY_SCRIPT = textwrap.dedent("""
    import logging, sys
    from paragrid.grid.console._output import configure_ray_logging, ray_init_kwargs, ray_output_to

    with ray_output_to(sys.argv[1], title="ray") as con:
        configure_ray_logging(verbose=False, captured=con.captured)
        import ray
        ray.init(num_cpus=1, **ray_init_kwargs(False, con.captured))

        @ray.remote
        def task():
            print("worker stdout line")
            print("worker stderr line", file=sys.stderr)
            return 1

        assert ray.get(task.remote()) == 1
        logging.getLogger("ray").warning("a warning of Ray's own logger")
        con.say("paragrid: the grid ran", err=True)
        ray.shutdown()
    print("paragrid: done")
""")


@pytest.mark.slow
def test_a_real_ray_session_leaves_the_console_to_paragrid(tmp_path):
    script = tmp_path / "ray_script.py"
    script.write_text(RAY_SCRIPT)
    log = tmp_path / "ray.log"
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    proc = subprocess.run([sys.executable, str(script), str(log)], capture_output=True, text=True,
                          timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr == "paragrid: the grid ran\n"
    assert proc.stdout == "paragrid: done\n"
    assert "a warning of Ray's own logger" in log.read_text()  # kept, in the file


def test_without_a_log_path_the_output_goes_to_a_temp_file(tmp_path):
    script = tmp_path / "none.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from paragrid.grid.console._output import ray_output_to
        with ray_output_to(None) as con:
            os.write(2, b"core worker noise\\n")
            con.say(str(con.log_path))
    """))
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    log = Path(proc.stdout.strip())
    assert proc.stderr == "" and log.parent == tmp_path / "paragrid" and log.name.startswith("ray-console-")
    assert "core worker noise" in log.read_text()
