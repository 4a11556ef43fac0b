"""The command-line contract other tools and scripts rely on."""

import subprocess
import sys

from paragrid.cli import build_parser, main

SUBCOMMANDS = ["synth", "features", "run", "tune", "report", "demo"]


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "paragrid.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for name in SUBCOMMANDS:
        assert f"    {name} " in out, f"`paragrid --help` does not list {name}"


def test_features_rejects_unknown_format(capsys):
    try:
        build_parser().parse_args(["features", "x", "--format", "wav", "--out", "y.parquet"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_user_error_is_one_line_with_nonzero_exit(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    code = main(["features", str(missing), "--format", "manifest", "--out", str(tmp_path / "o.parquet")])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("error: ") and "\n" not in err
    assert "nope.csv" in err


def test_run_replace_and_report_test_and_flags_reach_their_functions(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr("paragrid.cli.run", lambda spec, **kw: seen.update(run=kw))
    monkeypatch.setattr("paragrid.analysis.report.write_report", lambda rundir, **kw: seen.update(report=kw))
    assert main(["run", "demo", "--replace"]) == 0 and seen["run"]["replace"] is True
    assert main(["run", "demo"]) == 0 and seen["run"]["replace"] is False
    assert main(["report", str(tmp_path), "--flags"]) == 0
    assert seen["report"]["flags"] is True and seen["report"]["test"] == "auto"  # the design decides
    assert main(["report", str(tmp_path), "--test", "calibrated"]) == 0 and seen["report"]["test"] == "calibrated"
