"""README's Python API example runs as written (on tiny stand-ins for the demo's features)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from grid_helpers import write_corpus

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "README's Python API section holds one python example"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_notebook_example_runs(tmp_path, monkeypatch, capsys):
    features = tmp_path / "paragrid-work" / "features"
    features.mkdir(parents=True)
    for i, name in enumerate(("synth-a", "synth-b")):
        write_corpus(features / f"{name}.parquet", name, seed=i)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_example(), str(README), "exec"), scope)
    rows, cells, tests, figures = (scope[k] for k in ("rows", "cells", "tests", "figures"))
    assert len(rows) == 2 * 2 * 5  # dnn + prognet, 2 repeats, 5 folds
    assert set(cells.method) == {"dnn", "prognet"} and cells.uar_mean.between(0, 1).all()
    assert len(tests) >= 1 and figures and all(hasattr(f, "to_plotly_json") for f in figures.values())
    assert scope["run"].result_grid is not None
    out = capsys.readouterr().out
    assert "prognet" in out and "budget" in out  # each cell printed with its budget
