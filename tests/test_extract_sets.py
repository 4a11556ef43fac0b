"""Every openSMILE set by name, self-supervised embeddings from tiny local models, and the
extraction cache shared across outputs (keyed by file content, feature set and layer).

The models are randomly initialised WavLM / wav2vec 2.0 with a 16-wide, 2-layer encoder, built
from a config and saved to a temporary folder: nothing is downloaded (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is first imported: never download

import numpy as np
import pandas as pd
import pytest

from paragrid.errors import UserError
from paragrid.features.extract import (HFExtractor, extract_features, opensmile_names,
                                       read_features)
from test_extract import manifest_of, voice, write_wav

HIDDEN, LAYERS = 16, 2


@pytest.fixture
def corpus(tmp_path):
    wav = tmp_path / "wav"
    wav.mkdir()
    lengths = [0.6, 1.3, 0.9, 2.1]
    return manifest_of([write_wav(wav / f"u{i}.wav", voice(seconds=s, f0=120 + 20 * i, seed=i))
                        for i, s in enumerate(lengths)])


def run(manifest, out, **kw):
    kw.setdefault("jobs", 1)
    kw.setdefault("progress", False)
    extract_features(manifest, out, **kw)
    return read_features(out)


def tiny_model(folder, kind: str, layer_norm: bool = False) -> str:
    """A tiny, randomly initialised model and its feature extractor, saved where `folder` says."""
    transformers = pytest.importorskip("transformers")
    common = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=2,
                  intermediate_size=32, conv_dim=(8, 8, 8), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
                  num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
                  feat_extract_norm="layer" if layer_norm else "group")
    config, model = {"wavlm": (transformers.WavLMConfig, transformers.WavLMModel),
                     "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model)}[kind]
    import torch  # heavy: torch

    torch.manual_seed(0)
    model(config(**common)).eval().save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=layer_norm,
                                          do_normalize=True).save_pretrained(folder)
    return str(folder)


# ------------------------------------------------------------------------------ openSMILE sets

def test_compare_2016_writes_6373_columns_and_records_the_set(corpus, tmp_path):
    df, meta = run(corpus, tmp_path / "c.parquet", feature_set="ComParE_2016")
    assert len(meta["feature_columns"]) == 6373 == len(opensmile_names("ComParE_2016"))
    assert meta["feature_set"] == "ComParE_2016" and list(df.columns[-6373:]) == meta["feature_columns"]


def test_cache_is_shared_across_outputs_and_kept_apart_per_set(corpus, tmp_path, capsys):
    run(corpus, tmp_path / "a.parquet")
    capsys.readouterr()
    second, _ = run(corpus, tmp_path / "a-relabelled.parquet")   # another --out, same folder
    assert "extracted 0, cached 4" in capsys.readouterr().out
    _, meta = run(corpus, tmp_path / "g.parquet", feature_set="GeMAPSv01b")
    assert "extracted 4, cached 0" in capsys.readouterr().out and len(meta["feature_columns"]) == 62
    run(corpus.iloc[:2], tmp_path / "elsewhere" / "x.parquet", cache_dir=tmp_path / "paragrid-cache")
    assert "extracted 0, cached 2" in capsys.readouterr().out   # --cache: any output folder


def test_feature_set_errors_are_one_line(corpus, tmp_path):
    with pytest.raises(UserError, match="not an openSMILE set; choose one of .*eGeMAPSv02"):
        run(corpus, tmp_path / "x.parquet", feature_set="eGeMAPSv03")
    with pytest.raises(UserError, match="--layer and --pooling choose"):
        run(corpus, tmp_path / "x.parquet", layer="3")


# ------------------------------------------------------------------------------ self-supervised

@pytest.mark.parametrize("kind", ["wavlm", "wav2vec2"])
def test_tiny_model_gives_the_configured_width_for_a_layer_and_for_all(kind, corpus, tmp_path, capsys):
    model = tiny_model(tmp_path / kind, kind)
    one, meta = run(corpus, tmp_path / "l1.parquet", feature_set=f"hf:{model}", layer=1)
    assert meta["feature_columns"] == [f"L1_mean{i:04d}" for i in range(HIDDEN)]
    assert meta["feature_set"] == f"hf:{model}" and meta["layer"] == "1" and meta["layers"] == [1]
    every, meta = run(corpus, tmp_path / "all.parquet", feature_set=f"hf:{model}", layer="all",
                      pooling="mean+std")
    assert len(meta["feature_columns"]) == (LAYERS + 1) * HIDDEN * 2 and meta["layers"] == [0, 1, 2]
    layer1 = [f"L1_mean{i:04d}" for i in range(HIDDEN)]
    np.testing.assert_allclose(every[layer1].to_numpy(), one[layer1].to_numpy(), rtol=1e-9, atol=1e-12)
    assert (every[[f"L2_std{i:04d}" for i in range(HIDDEN)]].to_numpy() > 0).all()
    capsys.readouterr()
    run(corpus, tmp_path / "again.parquet", feature_set=f"hf:{model}", layer=1)
    assert "extracted 0, cached 4" in capsys.readouterr().out   # keyed by model content and layer


def test_pooling_ignores_padding_and_matches_the_unbatched_run(corpus, tmp_path):
    """Utterances of different lengths in one padded batch give what each gives alone."""
    model = tiny_model(tmp_path / "m", "wavlm", layer_norm=True)
    paths = list(corpus["path"])
    batched, alone = {}, {}

    class Bar:
        def update(self, n):
            pass

    big = HFExtractor(model, layer="all", pooling="mean+std", device="cpu")
    assert big.masked
    big.run(paths, 1, Bar(), batched)
    HFExtractor(model, layer="all", pooling="mean+std", device="cpu", batch_seconds=0.01).run(paths, 1, Bar(), alone)
    for p in paths:
        np.testing.assert_allclose(batched[p][1], alone[p][1], atol=1e-5)
    chunked = {}
    HFExtractor(model, layer="all", device="cpu", chunk_seconds=0.5).run(paths, 1, Bar(), chunked)
    assert all(np.isfinite(v[1]).all() for v in chunked.values())
    assert not np.allclose(chunked[paths[3]][1], batched[paths[3]][1][:len(chunked[paths[3]][1])])


def test_hub_id_that_cannot_be_fetched_names_the_local_folder_fix(corpus, tmp_path):
    pytest.importorskip("transformers")
    with pytest.raises(UserError, match=r"^cannot fetch model 'nobody/no-such-model'.*--feature-set hf:DIR$"):
        run(corpus, tmp_path / "x.parquet", feature_set="hf:nobody/no-such-model")
    with pytest.raises(UserError, match="is not a model folder transformers can load"):
        run(corpus, tmp_path / "x.parquet", feature_set=f"hf:{tmp_path / 'wav'}")


def test_without_transformers_hf_says_to_install_the_extra(corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)   # import fails as if not installed
    with pytest.raises(UserError, match=r"pip install 'paragrid\[ssl\]'"):
        run(corpus, tmp_path / "x.parquet", feature_set="hf:anything")


def test_cli_feature_set_flags(corpus, tmp_path):
    from paragrid.cli import main

    manifest = tmp_path / "manifest.csv"
    corpus.to_csv(manifest, index=False)
    out = tmp_path / "e.parquet"
    assert main(["features", str(manifest), "--format", "manifest", "--out", str(out),
                 "--feature-set", "emobase", "--jobs", "1"]) == 0
    assert read_features(out)[1]["feature_set"] == "emobase"
    assert isinstance(pd.read_parquet(out), pd.DataFrame)


def test_interrupted_model_extraction_resumes_from_the_cache(corpus, tmp_path, monkeypatch, capsys):
    model = tiny_model(tmp_path / "m", "wav2vec2")
    monkeypatch.setattr(HFExtractor.run, "__defaults__", (2,))   # groups of two files
    real, calls = HFExtractor._embed, []

    def flaky(self, signals):
        calls.append(len(signals))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, signals)

    monkeypatch.setattr(HFExtractor, "_embed", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(corpus, tmp_path / "x.parquet", feature_set=f"hf:{model}")
    assert not (tmp_path / "x.parquet").exists()
    capsys.readouterr()
    run(corpus, tmp_path / "x.parquet", feature_set=f"hf:{model}")
    assert "extracted 2, cached 2" in capsys.readouterr().out
