"""Self-supervised speech embeddings through Hugging Face transformers (the `paragrid[ssl]` extra).

`--feature-set hf:<model folder or hub id>` turns each utterance into the pooled hidden states of
a wav2vec 2.0-style encoder (wav2vec 2.0, HuBERT, WavLM, data2vec-audio): audio resampled to the
model's rate (scipy.signal.resample_poly, as for openSMILE), long files cut into chunks of at
most `chunk_seconds`, utterances of similar length batched up to `batch_seconds` of audio, on the
GPU when there is one. Pooling is over every frame of the utterance (all chunks), never over
padding: a frame counts only when it lies within the utterance's own length, which the model's
convolutional front end (config.conv_kernel / conv_stride) maps to frames. Utterances of
different lengths share a batch only when the model takes an attention mask and its front end
is layer-normed (wav2vec 2.0 large, WavLM large, HuBERT large); a group-normed front end
(the base models) normalises over time, padding included, so those models run on utterances of
equal length only: a number never depends on what else was in the batch (tested).

Layers (`--layer`): N (0 = the convolutional front end's projection, num_hidden_layers = the
last), `last` (the default), `mean` (the average of every hidden state), or `all` (every hidden
state, stored side by side, so a grid can compare layers without extracting twice). Columns are
`L<n>_mean<i>` (and `L<n>_std<i>` with `--pooling mean+std`); `mean` gives `Lmean_...`.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path

import numpy as np

from paragrid.errors import UserError
from paragrid.features.extract._audio import BadAudio, load_audio, one_line

HF_PREFIX = "hf:"
POOLINGS = ("mean", "mean+std")
_FETCH_FIX = ("download it once on a machine with internet (`hf download {id} --local-dir DIR`, or in "
              "Python AutoModel/AutoFeatureExtractor.from_pretrained('{id}').save_pretrained(DIR)), copy DIR "
              "here and pass --feature-set hf:DIR")


def _transformers():
    try:
        import transformers  # optional: transformers (paragrid[ssl])
    except ImportError:
        raise UserError("--feature-set hf:... needs Hugging Face transformers: "
                        "pip install 'paragrid[ssl]'") from None
    return transformers


def parse_layer(layer: str | int | None) -> str:
    """'last' (default), 'mean', 'all' or a layer number as a string; a UserError otherwise."""
    text = "last" if layer is None else str(layer).strip().lower()
    if text in ("last", "mean", "all") or (text.isdigit()):
        return str(int(text)) if text.isdigit() else text
    raise UserError(f"--layer {layer!r}: give a layer number, last, mean or all")


def _load(source: str):
    """(model, feature extractor) of a local folder or a hub id; one-line UserErrors otherwise."""
    tf = _transformers()
    folder = Path(source).expanduser()
    where = str(folder.resolve()) if folder.is_dir() else source
    try:
        model = tf.AutoModel.from_pretrained(where)
        extractor = tf.AutoFeatureExtractor.from_pretrained(where)
    except (OSError, ValueError, KeyError, EnvironmentError) as err:
        if folder.is_dir():
            raise UserError(f"{folder} is not a model folder transformers can load ({one_line(err)[:200]}); "
                            "it needs config.json, the weights and preprocessor_config.json") from None
        if folder.exists() or source.startswith((".", "/", "~")):
            raise UserError(f"hf:{source}: no such model folder; pass the folder holding config.json") from None
        raise UserError(f"cannot fetch model '{source}' from the Hugging Face hub; "
                        + _FETCH_FIX.format(id=source)) from None
    config = model.config
    if not (hasattr(config, "conv_kernel") and hasattr(config, "conv_stride")):
        raise UserError(f"hf:{source} is a {config.model_type} model; paragrid embeds wav2vec 2.0-style "
                        "speech encoders (wav2vec2, hubert, wavlm, data2vec-audio)")
    return model.eval(), extractor


def _fingerprint(model, extractor) -> str:
    """A hash of the model's weights, config and feature extractor: the cache key's model part."""
    h = hashlib.sha256(model.config.to_json_string().encode())
    h.update(extractor.to_json_string().encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class HFExtractor:
    """One loaded model and what `--layer` / `--pooling` take from it; `run` fills outcomes."""

    def __init__(self, source: str, layer: str | int | None = None, pooling: str = "mean",
                 device: str | None = None, batch_seconds: float = 64.0, chunk_seconds: float = 30.0):
        import torch  # heavy: torch

        if pooling not in POOLINGS:
            raise UserError(f"--pooling {pooling!r}: choose one of {', '.join(POOLINGS)}")
        self.source, self.layer, self.pooling = source, parse_layer(layer), pooling
        self.model, self.extractor = _load(source)
        n = int(self.model.config.num_hidden_layers)
        if self.layer.isdigit() and int(self.layer) > n:
            raise UserError(f"--layer {self.layer}: hf:{source} has layers 0..{n}")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.sample_rate = int(self.extractor.sampling_rate)
        # Padding is invisible only behind an attention mask AND with a layer-normed front end: a
        # group-normed one (wav2vec 2.0 base, WavLM base) normalises over time, padding included.
        self.masked = (bool(getattr(self.extractor, "return_attention_mask", False))
                       and getattr(self.model.config, "feat_extract_norm", "group") == "layer")
        self.batch_samples = int(batch_seconds * self.sample_rate)
        self.chunk_samples = int(chunk_seconds * self.sample_rate)
        self.hidden = int(self.model.config.hidden_size)
        self.layers = list(range(n + 1)) if self.layer == "all" else (
            [n] if self.layer == "last" else [] if self.layer == "mean" else [int(self.layer)])
        labels = [f"L{i}" for i in self.layers] or ["Lmean"]
        stats = ("mean", "std") if pooling == "mean+std" else ("mean",)
        self.columns = [f"{lab}_{s}{i:04d}" for lab in labels for s in stats for i in range(self.hidden)]
        self.fingerprint = _fingerprint(self.model, self.extractor)

    def meta(self) -> dict:
        tf = _transformers()
        return {"feature_set": HF_PREFIX + self.source, "feature_level": f"hidden states, {self.pooling} pooled",
                "layer": self.layer, "layers": self.layers, "pooling": self.pooling,
                "model_type": self.model.config.model_type, "model_fingerprint": self.fingerprint,
                "hidden_size": self.hidden, "transformers_version": tf.__version__, "opensmile_version": None}

    def setting(self) -> dict:
        """What decides the numbers (the cache's key): not the folder, the model's content."""
        return {"feature_set": "hf", "model_fingerprint": self.fingerprint, "layer": self.layer,
                "pooling": self.pooling, "sample_rate": self.sample_rate,
                "transformers_version": _transformers().__version__}

    def _frames(self, n: int) -> int:
        for kernel, stride in zip(self.model.config.conv_kernel, self.model.config.conv_stride):
            n = (n - kernel) // stride + 1
        return max(n, 0)

    def _batches(self, pieces: list[tuple[int, np.ndarray]]):
        """Pieces sorted by length, grouped up to batch_samples of padded audio (equal lengths
        only when the model takes no attention mask)."""
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i][1]))
        batch: list[int] = []
        for i in order:
            n = len(pieces[i][1])
            same = not batch or self.masked or len(pieces[batch[0]][1]) == n
            if batch and (not same or n * (len(batch) + 1) > self.batch_samples):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def _embed(self, signals: list[np.ndarray]):
        """Per signal: (sum, sum of squares, frames) of each chosen hidden state over its frames."""
        import torch  # heavy: torch

        pieces = []  # (signal index, chunk)
        for s, x in enumerate(signals):
            n_chunks = max(1, math.ceil(len(x) / self.chunk_samples))
            size = math.ceil(len(x) / n_chunks)
            pieces += [(s, x[j:j + size]) for j in range(0, len(x), size)]
        width = len(self.layers) or 1
        sums = np.zeros((len(signals), width, self.hidden))
        squares = np.zeros_like(sums)
        frames = np.zeros(len(signals), dtype=np.int64)
        for batch in self._batches(pieces):
            inputs = self.extractor([pieces[i][1] for i in batch], sampling_rate=self.sample_rate,
                                    padding=True, return_attention_mask=self.masked, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            with torch.inference_mode(), warnings.catch_warnings():
                # WavLM's attention mixes mask types inside transformers: a deprecation notice
                # per batch that the user can do nothing about
                warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
                states = self.model(**inputs, output_hidden_states=True).hidden_states
            chosen = (torch.stack([states[i] for i in self.layers], dim=1) if self.layers
                      else torch.stack(states, dim=1).mean(dim=1, keepdim=True)).double().cpu().numpy()
            for row, i in enumerate(batch):
                s, t = pieces[i][0], self._frames(len(pieces[i][1]))
                part = chosen[row, :, :t]
                sums[s] += part.sum(axis=1)
                squares[s] += (part ** 2).sum(axis=1)
                frames[s] += t
        return sums, squares, frames

    def _pooled(self, sums: np.ndarray, squares: np.ndarray, n: int) -> np.ndarray:
        mean = sums / n
        if self.pooling == "mean":
            return mean.reshape(-1)
        std = np.sqrt(np.maximum(squares / n - mean ** 2, 0.0))
        return np.concatenate([mean, std], axis=1).reshape(-1)

    def run(self, paths: list[str], jobs: int, bar, into: dict[str, tuple], group: int = 64) -> None:
        """Embed `paths` into `into` (path -> outcome tuple, as the openSMILE pool gives), a group
        of files at a time so that memory stays bounded and Ctrl-C keeps what finished."""
        for start in range(0, len(paths), group):
            good, signals, rates = [], [], []
            for path in paths[start:start + group]:
                try:
                    x, rate = load_audio(path, self.sample_rate)
                except BadAudio as bad:
                    into[path] = ("bad", bad.kind, bad.detail)
                    bar.update(1)
                    continue
                good.append(path), signals.append(x), rates.append(rate)
            if not good:
                continue
            try:
                sums, squares, frames = self._embed(signals)
            except RuntimeError as err:  # e.g. out of GPU memory: name the fix, not torch's internals
                raise UserError(f"the model failed on {good[0]} or one of the {len(good) - 1} files after it "
                                f"({one_line(err)[:160]}); lower --batch-seconds or --chunk-seconds") from None
            for j, path in enumerate(good):
                if frames[j] == 0:
                    into[path] = ("bad", "too_short", "is too short for the model (no frame)")
                else:
                    into[path] = ("ok", self._pooled(sums[j], squares[j], int(frames[j])), rates[j])
            bar.update(len(good))
