"""The eGeMAPS feature store: contract, cache, atomicity and every kind of bad audio.

Audio is a few 0.5 s harmonic-plus-noise wavs written here with soundfile, so the tests need
no corpus and no loader. Only one test starts a process pool (spawn costs seconds).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from paragrid.errors import UserError
from paragrid.features.extract import (  # internals the tests patch: the worker pool; and the parquet writer
    _pool as ex, _store as store, egemaps_names, extract_features, feature_columns, read_features,
    write_parquet_atomic)


def voice(seconds: float = 0.5, sr: int = 16000, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A vowel-like signal: a few harmonics of f0 with vibrato, plus a little noise."""
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 4 * t))) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 5))
    return 0.2 * x + 0.01 * np.random.default_rng(seed).standard_normal(t.size)


def write_wav(path: Path, x: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> str:
    sf.write(path, x, sr, subtype=subtype)
    return str(path)


def manifest_of(paths: list[str], corpus: str = "toy") -> pd.DataFrame:
    rows = []
    for i, p in enumerate(paths):
        try:  # the loader's probe; bad files get placeholders, as a stale manifest would hold
            info = sf.info(p)
        except (sf.SoundFileError, OSError):
            info = None
        rows.append({
            "utterance_id": f"{corpus}_{Path(p).stem}", "path": p, "speaker": f"s{i % 2}",
            "gender": "MF"[i % 2], "emotion": ["angry", "sad", "happy", "neutral"][i % 4],
            "corpus": corpus, "duration": info.duration if info else 0.0,
            "sample_rate": info.samplerate if info else 16000, "session": str(i),
        })
    return pd.DataFrame(rows)


@pytest.fixture
def corpus(tmp_path: Path) -> pd.DataFrame:
    """Four good wavs; listed out of name order, one at 22.05 kHz stereo (resample + mixdown)."""
    wav = tmp_path / "wav"
    wav.mkdir()
    paths = [write_wav(wav / f"u{i}.wav", voice(f0=110 + 30 * i, seed=i)) for i in (2, 0, 3)]
    stereo = np.stack([voice(sr=22050, f0=200, seed=9), voice(sr=22050, f0=200, seed=8)], axis=1)
    paths.insert(1, write_wav(wav / "u1.wav", stereo, sr=22050))
    df = manifest_of(paths)
    df.attrs["source"] = str(tmp_path / "manifest.csv")
    return df


def run(manifest: pd.DataFrame, out: Path, **kw) -> tuple[pd.DataFrame, dict]:
    kw.setdefault("jobs", 1)
    kw.setdefault("progress", False)
    assert extract_features(manifest, out, **kw) == out
    return read_features(out)


def count_calls(monkeypatch) -> list[str]:
    """Record which files reach openSMILE (in-process runs only)."""
    seen: list[str] = []
    real = ex.extract_one

    def spy(path, sample_rate, feature_set):
        seen.append(Path(path).name)
        return real(path, sample_rate, feature_set)

    monkeypatch.setattr(ex, "extract_one", spy)
    return seen


# ---------------------------------------------------------------------------------------------
# contract


def test_parquet_follows_formats_section_2(corpus, tmp_path, capsys):
    out = tmp_path / "feat" / "toy.parquet"  # parent folder created on demand
    df, meta = run(corpus, out)

    names = egemaps_names()
    assert len(names) == 88 and names[0] == "F0semitoneFrom27.5Hz_sma3nz_amean"
    assert list(df.columns) == list(corpus.columns) + names
    assert (df[names].dtypes == np.float64).all()
    assert list(df["utterance_id"]) == list(corpus["utterance_id"])  # manifest order, not name order
    assert list(df["session"]) == list(corpus["session"])  # extra label columns carried through
    assert meta["feature_columns"] == names == feature_columns(meta) == feature_columns(df)
    assert set(meta) == set(store.META_KEYS)
    assert meta["format_version"] == 1 and meta["feature_set"] == "eGeMAPSv02"
    assert meta["feature_level"] == "Functionals" and meta["sample_rate"] == 16000
    assert meta["n_resampled"] == 1 and meta["corpus"] == "toy"
    assert meta["source"] == corpus.attrs["source"]
    assert meta["created_utc"].endswith("Z")
    assert "resampled 1 of 4" in capsys.readouterr().out
    # Different voices give different features: the rows are not a broadcast of one result.
    assert df[names].drop_duplicates().shape[0] == 4
    assert df["loudness_sma3_amean"].gt(0).all()  # voiced audio, not silence, reached openSMILE


def test_source_defaults_to_common_folder(corpus, tmp_path):
    corpus.attrs = {}
    _, meta = run(corpus, tmp_path / "a.parquet")
    assert meta["source"] == str(tmp_path / "wav")


def test_extraction_matches_opensmile_on_the_resampled_signal(corpus, tmp_path):
    """Our reader (mixdown + resample_poly) feeds openSMILE exactly the signal we think."""
    import opensmile
    from scipy.signal import resample_poly

    df, _ = run(corpus, tmp_path / "a.parquet")
    x, sr = sf.read(corpus.loc[1, "path"], dtype="float32")
    y = resample_poly(x.mean(axis=1), 320, 441).astype(np.float32)
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    want = smile.process_signal(y, 16000).to_numpy(np.float64)[0]
    np.testing.assert_allclose(df.loc[1, egemaps_names()].to_numpy(float), want, rtol=1e-6)


def test_other_sample_rate_changes_features_and_counts_every_resample(corpus, tmp_path):
    a, _ = run(corpus, tmp_path / "a.parquet")
    b, meta = run(corpus, tmp_path / "b.parquet", sample_rate=8000)
    assert meta["sample_rate"] == 8000 and meta["n_resampled"] == 4
    assert not np.allclose(a[egemaps_names()], b[egemaps_names()])


# ---------------------------------------------------------------------------------------------
# cache


def test_rerun_uses_cache_and_reextracts_only_changed_files(corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "toy.parquet"
    first, _ = run(corpus, out)
    seen = count_calls(monkeypatch)
    capsys.readouterr()

    second, _ = run(corpus, out)
    assert seen == [] and "extracted 0, cached 4" in capsys.readouterr().out
    pd.testing.assert_frame_equal(first, second)

    changed = Path(corpus.loc[2, "path"])
    write_wav(changed, voice(f0=300, seed=5))
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # even on coarse-mtime filesystems
    third, _ = run(corpus, out)
    assert seen == [changed.name] and "extracted 1, cached 3" in capsys.readouterr().out
    names = egemaps_names()
    assert not np.allclose(third.loc[2, names].to_numpy(float), first.loc[2, names].to_numpy(float))
    pd.testing.assert_frame_equal(third.drop(index=2)[names], first.drop(index=2)[names])

    touched = Path(corpus.loc[0, "path"])
    os.utime(touched, ns=(st.st_atime_ns, touched.stat().st_mtime_ns + 10**9))  # touch, same bytes
    run(corpus, out)
    assert seen == [changed.name]  # keyed by content: a touched file is not re-extracted


def test_cache_is_not_reused_for_another_sample_rate(corpus, tmp_path, monkeypatch):
    out = tmp_path / "toy.parquet"
    run(corpus, out)
    seen = count_calls(monkeypatch)
    run(corpus, out, sample_rate=8000)
    assert len(seen) == 4


def test_interrupted_run_keeps_finished_work(corpus, tmp_path, monkeypatch):
    """Ctrl-C after two files: no parquet, but the next run extracts only the other two."""
    real, calls = ex.extract_one, []

    def flaky(path, sample_rate, feature_set):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, sample_rate, feature_set)

    monkeypatch.setattr(ex, "extract_one", flaky)
    out = tmp_path / "toy.parquet"
    with pytest.raises(KeyboardInterrupt):
        run(corpus, out)
    assert not out.exists()
    seen = count_calls(monkeypatch)
    run(corpus, out)
    assert sorted(seen) == sorted(Path(p).name for p in corpus["path"][2:])


def test_corrupt_cache_is_ignored(corpus, tmp_path, capsys):
    out = tmp_path / "toy.parquet"
    run(corpus, out)
    for cached in (tmp_path / "paragrid-cache").glob("eGeMAPSv02-*.parquet"):
        cached.write_bytes(b"not parquet")
    capsys.readouterr()
    run(corpus, out)
    printed = capsys.readouterr().out
    assert "extracted 4, cached 0" in printed and "ignoring unreadable feature cache" in printed


# ---------------------------------------------------------------------------------------------
# atomic writes


@pytest.mark.parametrize("existing", [True, False])
def test_failed_write_leaves_old_file_or_nothing(corpus, tmp_path, monkeypatch, existing):
    out = tmp_path / "toy.parquet"
    df, meta = run(corpus, tmp_path / "good.parquet")
    if existing:
        write_parquet_atomic(df.head(2), out, meta)
    before = out.read_bytes() if existing else None
    listing = sorted(os.listdir(tmp_path))

    def half_write(table, where, **kw):
        Path(where).write_bytes(b"PAR1 half a parquet")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.pq, "write_table", half_write)
    with pytest.raises(UserError, match="cannot write .*toy.parquet.*No space left"):
        write_parquet_atomic(df, out, meta)
    assert sorted(os.listdir(tmp_path)) == listing  # no temporary file left behind
    if existing:
        assert out.read_bytes() == before
        assert len(read_features(out)[0]) == 2
    else:
        assert not out.exists()


def test_written_file_gets_normal_permissions(corpus, tmp_path):
    out = tmp_path / "toy.parquet"
    run(corpus, out)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


# ---------------------------------------------------------------------------------------------
# bad input


def _bad_file(kind: str, d: Path) -> str:
    path = d / f"bad_{kind}.wav"
    if kind == "missing":
        return str(path)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        write_wav(path, voice(seed=3))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])  # a copy cut off half way
    elif kind == "not_audio":
        path.write_text("<html>404 Not Found</html>\n" * 20)
    elif kind == "too_short":
        write_wav(path, voice(seconds=0.05))
    elif kind == "silent":
        write_wav(path, np.zeros(8000))
    elif kind == "nan_samples":
        x = voice()
        x[100:200] = np.nan
        write_wav(path, x, subtype="FLOAT")
    return str(path)


BAD = {  # kind -> words the message must contain
    "missing": "does not exist",
    "empty": "is empty",
    "truncated": "is truncated (its header declares 8000 frames, the file holds 3989)",
    "not_audio": "is not readable audio (soundfile: Format not recognised",
    "too_short": "is too short (0.050 s",
    "silent": "is silent",
    "nan_samples": "contains NaN",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_file_is_a_one_line_user_error(kind, corpus, tmp_path):
    bad = _bad_file(kind, tmp_path)
    manifest = manifest_of(list(corpus["path"][:2]) + [bad])
    out = tmp_path / "toy.parquet"
    with pytest.raises(UserError) as err:
        extract_features(manifest, out, jobs=1, progress=False)
    msg = str(err.value)
    assert msg.startswith(bad) and BAD[kind] in msg and msg.endswith("or pass --skip-bad")
    assert "\n" not in msg
    assert not out.exists()


@pytest.mark.parametrize("kind", list(BAD))
def test_skip_bad_lists_the_file_and_keeps_the_rest(kind, corpus, tmp_path, capsys):
    bad = _bad_file(kind, tmp_path)
    good = list(corpus["path"][:2])
    manifest = manifest_of([good[0], bad, good[1]])
    df, _ = run(manifest, tmp_path / "toy.parquet", skip_bad=True)
    assert list(df["path"]) == good
    skipped = pd.read_csv(tmp_path / "toy.skipped.csv")
    assert list(skipped["path"]) == [bad] and BAD[kind] in skipped.loc[0, "reason"]
    printed = capsys.readouterr().out
    assert "skipped 1 file(s)" in printed and "extracted 2, cached 0, skipped 1" in printed


def test_loader_skips_join_the_list_and_stale_list_goes(corpus, tmp_path):
    out = tmp_path / "toy.parquet"
    corpus.attrs["skipped"] = [("/data/x.wav", "unknown label 'fru'")]
    run(corpus, out, skip_bad=True)
    listed = pd.read_csv(tmp_path / "toy.skipped.csv").values.tolist()
    assert listed == [["/data/x.wav", "unknown label 'fru'"]]
    corpus.attrs["skipped"] = []
    run(corpus, out, skip_bad=True)
    assert not (tmp_path / "toy.skipped.csv").exists()


def test_all_bad_is_an_error_even_with_skip_bad(tmp_path):
    manifest = manifest_of([_bad_file("not_audio", tmp_path)])
    with pytest.raises(UserError, match="every file was bad"):
        extract_features(manifest, tmp_path / "x.parquet", skip_bad=True, jobs=1, progress=False)
    assert (tmp_path / "x.skipped.csv").exists() and not (tmp_path / "x.parquet").exists()


def test_worker_errors_reach_the_parent_and_pool_matches_serial(corpus, tmp_path, monkeypatch):
    """jobs=2 runs real worker processes: a bad file there is the same UserError, and the
    features the pool computed (cached despite the error) equal an in-process run."""
    monkeypatch.setattr(ex, "MIN_PER_WORKER", 1)  # a real pool even for five files
    bad = _bad_file("not_audio", tmp_path)
    manifest = manifest_of(list(corpus["path"]) + [bad])
    par = tmp_path / "par.parquet"
    seen = count_calls(monkeypatch)
    with pytest.raises(UserError, match=f"^{bad} is not readable audio.*--skip-bad$"):
        extract_features(manifest, par, jobs=2, progress=False)
    assert seen == []  # nothing ran in this process: the workers did it all
    pooled, _ = run(manifest, par, skip_bad=True)
    assert seen == [Path(bad).name]  # every good file came from the pool's cache
    monkeypatch.undo()
    serial, _ = run(manifest, tmp_path / "ser.parquet", skip_bad=True, cache_dir=tmp_path / "own-cache")
    pd.testing.assert_frame_equal(pooled, serial)


def test_dead_worker_is_a_user_error(corpus, tmp_path, monkeypatch):
    """A worker killed by a segfault or the OOM killer breaks the pool: name where it died."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    class DyingPool:
        def __init__(self, *args, **kwargs):
            pass

        def submit(self, fn, chunk, sample_rate, feature_set):
            future = Future()
            future.set_exception(BrokenProcessPool("A child process terminated abruptly"))
            return future

        def shutdown(self, wait=True, cancel_futures=False):
            pass

    monkeypatch.setattr(ex, "ProcessPoolExecutor", DyingPool)
    monkeypatch.setattr(ex, "MIN_PER_WORKER", 1)
    with pytest.raises(UserError, match="worker process died while extracting .*--jobs 1"):
        extract_features(corpus, tmp_path / "x.parquet", jobs=2, progress=False)
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("change, words", [
    (lambda m: m.drop(columns="speaker"), "lacks the column(s) speaker"),
    (lambda m: m.iloc[:0], "no utterances"),
    (lambda m: m.assign(corpus=["a", "b", "a", "a"]), "mixes corpora"),
    (lambda m: m.assign(utterance_id="same"), "duplicate utterance_id"),
    (lambda m: m.assign(path=[None, "x", "y", "z"]), "has no audio path"),
])
def test_bad_manifest_is_a_user_error(corpus, tmp_path, change, words):
    with pytest.raises(UserError) as err:
        extract_features(change(corpus), tmp_path / "x.parquet", jobs=1, progress=False)
    assert words in str(err.value)


def test_bad_arguments_are_user_errors(corpus, tmp_path):
    with pytest.raises(UserError, match="--jobs 0"):
        extract_features(corpus, tmp_path / "x.parquet", jobs=0, progress=False)
    with pytest.raises(UserError, match="--sample-rate"):
        extract_features(corpus, tmp_path / "x.parquet", sample_rate=0, progress=False)
    with pytest.raises(UserError, match="is a folder"):
        extract_features(corpus, tmp_path, jobs=1, progress=False)


def test_progress_bar_goes_to_stderr_only_when_asked(corpus, tmp_path, capsys):
    run(corpus, tmp_path / "a.parquet", progress=True)
    assert "eGeMAPSv02 toy" in capsys.readouterr().err
    run(corpus, tmp_path / "b.parquet", progress=False)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------------
# read_features


@pytest.fixture
def written(corpus, tmp_path) -> tuple[pd.DataFrame, dict]:
    return run(corpus, tmp_path / "good.parquet")


def _nan_one(df: pd.DataFrame, meta: dict) -> pd.DataFrame:
    df = df.copy()
    df.loc[1, meta["feature_columns"][5]] = np.nan
    return df


@pytest.mark.parametrize("make, words", [
    ("missing", "does not exist"),
    ("not_parquet", "is not a readable parquet file"),
    ("plain_parquet", "no 'paragrid' metadata"),
    ("no_feature", "lacks 1 feature column(s) (loudness_sma3_amean)"),
    ("no_manifest", "lacks 1 manifest column(s) (emotion)"),
    ("nan", "has 1 NaN feature value(s) in 1 row(s)"),
])
def test_read_features_rejects(written, tmp_path, make, words):
    df, meta = written
    path = tmp_path / "x.parquet"
    if make == "not_parquet":
        path.write_text("utterance_id,path\n")
    elif make == "plain_parquet":
        df.to_parquet(path)
    elif make == "no_feature":
        write_parquet_atomic(df.drop(columns="loudness_sma3_amean"), path, meta)
    elif make == "no_manifest":
        write_parquet_atomic(df.drop(columns="emotion"), path, meta)
    elif make == "nan":
        write_parquet_atomic(_nan_one(df, meta), path, meta)
    with pytest.raises(UserError) as err:
        read_features(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and words in msg and "paragrid features" in msg and "\n" not in msg


def test_feature_columns_survive_lost_attrs(written):
    df, meta = written
    plain = pd.DataFrame(df.to_dict("list"))  # no attrs
    assert feature_columns(plain) == meta["feature_columns"]
    with pytest.raises(ValueError):
        feature_columns(plain[["speaker"]])


def test_parquet_metadata_is_plain_json_under_paragrid_key(written, tmp_path):
    raw = pq.read_schema(tmp_path / "good.parquet").metadata[b"paragrid"]
    import json

    assert json.loads(raw) == written[1]
