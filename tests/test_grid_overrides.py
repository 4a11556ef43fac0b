"""`--architecture`: per-target files, tune folders, origins, and nothing applied silently."""
from __future__ import annotations

import pytest
import yaml
from grid_helpers import tiny_spec, write_corpora, write_spec

from paragrid.errors import UserError
from paragrid.grid.spec import load_spec


@pytest.fixture()
def spec_path(tmp_path):
    write_corpora(tmp_path)
    return write_spec(tmp_path, tiny_spec(targets=["ca", "cb"], sources=[["gender"]]))


def _best(path, corpus, width, mode="same-corpus", lr=None):
    doc = {"architecture": {"width": width}, "tuned": {"mode": mode, "corpus": corpus, "spec_hash": "x"}}
    if lr is not None:
        doc["training"] = {"lr": lr}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_tuned_file_applies_only_to_its_own_corpus(tmp_path, spec_path):
    best = _best(tmp_path / "a.yaml", "ca", 16, lr=0.02)
    s = load_spec(spec_path, architecture=[str(best)])
    assert s.arch_for("ca").width == 16 and s.training_for("ca").lr == 0.02
    assert s.arch_for("cb").width == 8 and s.training_for("cb").lr == 0.01  # untouched
    assert s.origin_for("ca") == ("tuned-same-corpus", str(best.resolve()))
    assert s.origin_for("cb") == ("spec", None)


def test_target_equals_file_records_tuned_on_the_other_corpus(tmp_path, spec_path):
    a, b = _best(tmp_path / "a.yaml", "ca", 16), _best(tmp_path / "b.yaml", "cb", 12)
    s = load_spec(spec_path, architecture=[f"cb={a}", f"ca={b}"])
    assert s.arch_for("cb").width == 16 and s.origin_for("cb")[0] == "tuned-on:ca"
    assert s.arch_for("ca").width == 12 and s.origin_for("ca")[0] == "tuned-on:cb"


def test_a_tune_folder_gives_each_target_its_own_best(tmp_path, spec_path):
    folder = tmp_path / "tune-run"
    _best(folder / "ca" / "best.yaml", "ca", 16)
    _best(folder / "cb" / "best.yaml", "cb", 12)
    s = load_spec(spec_path, architecture=[str(folder)])
    assert (s.arch_for("ca").width, s.arch_for("cb").width) == (16, 12)
    assert {s.origin_for(t)[0] for t in ("ca", "cb")} == {"tuned-same-corpus"}


def test_the_hash_follows_the_architecture_not_the_file_location(tmp_path, spec_path):
    plain = load_spec(spec_path)
    a1 = _best(tmp_path / "one" / "a.yaml", "ca", 16)
    a2 = _best(tmp_path / "two" / "a.yaml", "ca", 16)
    h = lambda s: s.hash({"ca": "f1", "cb": "f2"})  # noqa: E731
    assert h(load_spec(spec_path, architecture=[str(a1)])) == h(load_spec(spec_path, architecture=[str(a2)]))
    assert h(load_spec(spec_path, architecture=[str(a1)])) != h(plain)


@pytest.mark.parametrize("make, needle", [
    (lambda d: [str(_best(d / "x.yaml", "elsewhere", 16))], "was tuned on 'elsewhere', which is not a target"),
    (lambda d: [f"cc={_best(d / 'x.yaml', 'ca', 16)}"], "'cc' is not a target"),
    (lambda d: [str(_best(d / "x.yaml", "ca", 16, mode="nested"))], "a nested tuning chooses per outer step"),
    (lambda d: [str(_best(d / "x.yaml", "ca", 16)), f"ca={_best(d / 'y.yaml', 'ca', 8)}"], "given two architectures"),
    (lambda d: [str(d / "nothing-here")], "no such file or folder"),
])
def test_misuse_is_one_line(tmp_path, spec_path, make, needle):
    with pytest.raises(UserError) as err:
        load_spec(spec_path, architecture=make(tmp_path))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_hand_written_fragment_applies_to_every_target_as_spec(tmp_path, spec_path):
    frag = tmp_path / "frag.yaml"
    frag.write_text("width: 20\ninit: torch-default\n")
    s = load_spec(spec_path, architecture=[str(frag)])
    for t in ("ca", "cb"):
        assert s.arch_for(t).width == 20 and s.arch_for(t).init == "torch-default"
        assert s.origin_for(t) == ("spec", str(frag.resolve()))
    frag.write_text("widht: 20\n")
    with pytest.raises(UserError, match="did you mean 'width'"):
        load_spec(spec_path, architecture=[str(frag)])
