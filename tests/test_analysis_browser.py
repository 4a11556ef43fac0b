"""The dashboard renders in a real browser: every view draws its charts, with no JavaScript errors.

Uses Debian's headless Chromium (/usr/bin/chromium, or $CHROMIUM): one run dumps the DOM after
the page's scripts ran, a second one saves a screenshot to test-artifacts/ for a human to look at.
All DNS is mapped to nowhere, so a page that tried to fetch anything (a CDN) would log an error.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis_helpers import build_results, write_tables, write_trials_csv
from paragrid.analysis.report import write_report

pytestmark = pytest.mark.browser

VIEWS = ["overview", "crosscorpus", "curves", "significance", "differences", "confusion",
         "forgetting", "tuning"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _chromium() -> str | None:
    for candidate in [os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")]:
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _command(binary: str, profile: Path, *extra: str) -> list[str]:
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0", *extra]


def test_dashboard_renders_every_view(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium, or set $CHROMIUM)")
    rundir = tmp_path / "run"
    results, curves = build_results(k=4, repeats=2, cross_budgets=(1, 2), max_epochs=20)
    write_tables(rundir, results, curves)
    write_trials_csv(rundir)
    index = write_report(rundir, compare_paper=True, quiet=True)
    url = index.resolve().as_uri()

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "analysis-dashboard.png"
    shot.unlink(missing_ok=True)
    dump = subprocess.Popen(_command(binary, tmp_path / "p1", "--virtual-time-budget=5000",
                                     "--dump-dom", url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    snap = subprocess.Popen(_command(binary, tmp_path / "p2", "--hide-scrollbars",
                                     "--window-size=1400,1000", f"--screenshot={shot}", url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dom, log = dump.communicate(timeout=90)
        snap.wait(timeout=90)
    finally:
        for proc in (dump, snap):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert dump.returncode == 0, log[-2000:]

    console = [line for line in log.splitlines() if "CONSOLE" in line]
    bad = [line for line in console if re.search(r"uncaught|error|failed to load", line, re.I)]
    assert not bad, "browser console errors:\n" + "\n".join(bad)
    assert re.search(r'id="js-errors"[^>]*hidden', dom), "the page caught JavaScript errors"

    for view in VIEWS:
        start = dom.find(f'<section id="{view}">')
        assert start >= 0, f"view {view} missing from the rendered page"
        end = dom.find("</section>", start)
        charts = dom.count('class="main-svg"', start, end)
        assert charts > 0, f"view {view} rendered no Plotly chart"
    assert shot.exists() and shot.stat().st_size > 10_000, "no screenshot written"
