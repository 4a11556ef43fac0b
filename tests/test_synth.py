"""The synthetic corpora: format, determinism, labels, channels and a voice that has real F0.

All corpora here are tiny (a few utterances); the difficulty of the full-size corpora is
measured offline (see the helper's report), not in the suite.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from paragrid.cli import main
from paragrid.errors import UserError
from paragrid.features.synth import (EMOTIONS, MANIFEST_COLUMNS, SR, CorpusConfig, Segment, default_configs,
                                     make_sentences, make_speakers, plan_corpus, synthesise_utterance,
                                     write_corpora)

REQUIRED = ["utterance_id", "path", "speaker", "gender", "emotion", "corpus", "duration",
            "sample_rate"]


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every file under root, keyed by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("synth") / "corpora"
    return out, write_corpora(out, seed=7, n_speakers=3, n_utterances=8, jobs=1)


def test_layout_and_manifest_format(tiny):
    out, manifests = tiny
    assert manifests == [out / "synth-a" / "manifest.csv", out / "synth-b" / "manifest.csv"]
    for path, name in zip(manifests, ("synth-a", "synth-b")):
        with open(path, newline="") as fh:
            header = next(csv.reader(fh))
        assert header[: len(REQUIRED)] == REQUIRED and header == MANIFEST_COLUMNS
        m = pd.read_csv(path)
        assert len(m) == 8 and m.utterance_id.is_unique
        assert (m.corpus == name).all() and (m.sample_rate == SR).all()
        assert set(m.gender) == {"M", "F"}
        assert set(m.emotion) == set(EMOTIONS)
        assert m.speaker.nunique() == 3
        assert m.sentence.str.startswith(name[-1] + "-s").all()
        for row in m.itertuples():
            assert not Path(row.path).is_absolute()  # relative to the CSV's folder
            info = sf.info(path.parent / row.path)
            assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
            assert info.frames / SR == pytest.approx(row.duration, abs=1e-9)
            assert 1.0 <= row.duration <= 3.0


def test_speakers_unique_and_disjoint_between_corpora(tiny):
    _, (ma, mb) = tiny
    a, b = pd.read_csv(ma), pd.read_csv(mb)
    assert not set(a.speaker) & set(b.speaker)
    for m in (a, b):  # one gender per speaker
        assert (m.groupby("speaker").gender.nunique() == 1).all()


def test_same_seed_same_bytes_other_seed_other_bytes(tiny, tmp_path):
    out, _ = tiny
    write_corpora(tmp_path / "again", seed=7, n_speakers=3, n_utterances=8, jobs=1)
    write_corpora(tmp_path / "other", seed=8, n_speakers=3, n_utterances=8, jobs=1)
    first, again, other = _digest(out), _digest(tmp_path / "again"), _digest(tmp_path / "other")
    assert again == first
    shared = set(first) & set(other)
    assert sum(first[k] != other[k] for k in shared if k.endswith(".wav")) == sum(
        k.endswith(".wav") for k in shared)


@pytest.mark.slow
def test_parallel_generation_is_byte_identical(tiny, tmp_path):
    out, _ = tiny
    write_corpora(tmp_path / "par", seed=7, n_speakers=3, n_utterances=8, jobs=2)
    assert _digest(tmp_path / "par") == _digest(out)


def test_default_design():
    a, b = default_configs()
    for cfg in (a, b):
        plan = plan_corpus(cfg, seed=0)
        speakers = make_speakers(cfg, seed=0)
        assert len(plan) == 900 and len(speakers) == 10
        assert sorted(s.gender for s in speakers) == ["F"] * 5 + ["M"] * 5
        assert len({s.id for s in speakers}) == 10
        per_speaker = np.bincount([p.speaker for p in plan])
        assert per_speaker.min() == per_speaker.max() == 90
        counts = pd.Series([p.emotion for p in plan]).value_counts()
        assert counts.idxmax() == "neutral" and counts.min() >= 90  # unbalanced, not extreme
    assert a.channel != b.channel


def test_corpora_differ_in_channel(tmp_path):
    """Same voice, text and emotion through both recording chains: synth-b is noisier and
    has far less energy above 6.5 kHz (narrower band)."""
    a, b = default_configs()
    spk = make_speakers(a, seed=1)[0]
    sentence = make_sentences(a, seed=1)[0]
    floor, high = {}, {}
    for cfg in (a, b):
        x = synthesise_utterance(spk, "neutral", sentence, np.random.default_rng(5), cfg.channel)
        frames = x[: len(x) // 160 * 160].reshape(-1, 160).astype(np.float64)
        floor[cfg.name] = np.sqrt(np.min(np.mean(frames ** 2, axis=1)))  # quietest 10 ms
        spec = np.abs(np.fft.rfft(x)) ** 2
        freq = np.fft.rfftfreq(len(x), 1 / SR)
        high[cfg.name] = spec[freq > 6500].sum() / spec.sum()
    assert floor["synth-b"] > 2 * floor["synth-a"]
    assert high["synth-a"] > 10 * high["synth-b"]


def _autocorr_f0(x: np.ndarray, lo: float = 60.0, hi: float = 400.0) -> float:
    x = x - x.mean()
    r = np.correlate(x, x, mode="full")[len(x) - 1:]
    lags = np.arange(int(SR / hi), int(SR / lo))
    return SR / lags[np.argmax(r[lags])]


def test_sustained_vowel_has_the_speakers_f0():
    cfg = replace(default_configs()[0], n_speakers=10)
    speakers = make_speakers(cfg, seed=2)
    vowel = (Segment("vowel", "a", 6.0),)
    for spk in (next(s for s in speakers if s.gender == "M"),
                next(s for s in speakers if s.gender == "F")):
        x = synthesise_utterance(spk, "neutral", vowel, np.random.default_rng(0), spread=0.0)
        mid = len(x) // 2
        f0 = _autocorr_f0(x[mid - 800: mid + 800].astype(np.float64))
        lo, hi = (80, 165) if spk.gender == "M" else (150, 300)
        assert lo < f0 < hi, (spk.id, f0)
        assert f0 == pytest.approx(spk.f0_hz, rel=0.2)


def test_emotions_move_pitch_and_loudness_the_documented_way():
    cfg = default_configs()[0]
    spk = make_speakers(cfg, seed=3)[0]
    sentences = make_sentences(cfg, seed=3)
    rms, f0 = {}, {}
    for emo in ("angry", "sad"):
        xs = [synthesise_utterance(spk, emo, sentences[i], np.random.default_rng(i))
              for i in range(6)]
        rms[emo] = np.mean([20 * np.log10(np.sqrt(np.mean(x.astype(float) ** 2))) for x in xs])
        f0[emo] = np.mean([_autocorr_f0(x[len(x) // 3: len(x) // 3 + 1600].astype(float))
                           for x in xs])
    assert rms["angry"] > rms["sad"] + 3
    assert f0["angry"] > f0["sad"]


def test_user_errors(tmp_path):
    with pytest.raises(UserError, match="speakers"):
        write_corpora(tmp_path / "x", n_speakers=1, n_utterances=8, jobs=1)
    with pytest.raises(UserError, match="utterances"):
        write_corpora(tmp_path / "x", n_speakers=4, n_utterances=3, jobs=1)
    with pytest.raises(UserError, match="jobs"):
        write_corpora(tmp_path / "x", n_speakers=2, n_utterances=4, jobs=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="file"):
        write_corpora(tmp_path / "file", n_speakers=2, n_utterances=4, jobs=1)
    with pytest.raises(UserError, match="emotion_weights"):
        plan_corpus(CorpusConfig("c", "c", 0, emotion_weights={"angry": 1.0}), seed=0)


def test_cli_synth(tmp_path, capsys):
    rc = main(["synth", str(tmp_path), "--seed", "1", "--speakers", "2", "--utterances", "4",
               "--jobs", "1"])
    assert rc == 0
    printed = capsys.readouterr().out.split()
    assert str(tmp_path / "synth-a" / "manifest.csv") in printed
    assert len(list((tmp_path / "synth-b" / "wav").glob("*.wav"))) == 4
    assert main(["synth", str(tmp_path), "--speakers", "1"]) == 2


def test_cli_synth_makes_n_corpora_with_their_own_voices_channels_and_balance(tmp_path, capsys):
    from paragrid.features.synth import many_configs
    configs = many_configs(4)
    assert [c.name for c in configs] == ["synth-a", "synth-b", "synth-c", "synth-d"]
    assert configs[:2] == default_configs()  # the first two are the built-in pair
    assert len({c.index for c in configs}) == 4  # own seed streams: own speakers and "culture"
    assert len({c.channel for c in configs}) == 4
    assert len({tuple(c.emotion_weights.values()) for c in configs}) == 4
    assert many_configs(3)[2] == configs[2]  # synth-c does not depend on N
    rc = main(["synth", str(tmp_path), "--corpora", "4", "--speakers", "2", "--utterances", "4",
               "--jobs", "1"])
    assert rc == 0
    printed = capsys.readouterr().out.split()
    assert str(tmp_path / "synth-d" / "manifest.csv") in printed
    speakers = [set(pd.read_csv(tmp_path / f"synth-{x}" / "manifest.csv")["speaker"]) for x in "abcd"]
    assert all(not (s & t) for i, s in enumerate(speakers) for t in speakers[i + 1:])
    assert main(["synth", str(tmp_path), "--corpora", "1"]) == 2
