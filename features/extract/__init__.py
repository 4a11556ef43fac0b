"""Features out: openSMILE sets or self-supervised embeddings of a corpus manifest, and the
parquet that stores them.

`extract_features` turns a manifest (`paragrid.features.corpora`) into one features parquet
per corpus (docs/FORMATS.md section 2) for any openSMILE set by name (default eGeMAPSv02) or a
Hugging Face speech model (`hf:<folder>`, the `paragrid[ssl]` extra): parallel over processes
(openSMILE) or batched on the GPU when there is one (models), cached by file content, resumable, and with
every bad audio file reported as a one-line error or skipped. `read_features` is how every
later stage (the grid, the tuner) reads that parquet back, fully validated; importing it does
not import openSMILE.

Exports:
  extract_features, skipped_path       a corpus' parquet, and the list of files it skipped
  read_features, feature_columns       the parquet read back and its feature column names
  write_parquet_atomic, atomic_write   writing a parquet (or any file) atomically
  FORMAT_VERSION, META_KEY, META_KEYS  the parquet's metadata contract
  egemaps_names, opensmile_names, opensmile_sets, opensmile_version, FEATURE_SET, FEATURE_LEVEL
                                       the openSMILE configurations (FEATURE_SET: the default)
  make_extractor, HFExtractor, HF_PREFIX, parse_layer
                                       --feature-set resolved; the self-supervised extractor
  FeatureCache, content_hashes, default_cache_dir
                                       the extraction cache, keyed by each file's content
  extract_one, load_audio, BadAudio, MIN_DURATION_S
                                       one file: its features, its signal, and why it is bad

Internals: `_extract` (the corpus driver), `_store` (the parquet), `_opensmile` (the
configuration and one file), `_audio` (reading audio, bad-file decisions), `_pool` (worker
processes), `_cache` (the resumable cache), `_sets` (`--feature-set` resolved), `_hf` (self-
supervised models through transformers, imported only for hf: sets).
"""

from paragrid.features.extract._audio import MIN_DURATION_S, BadAudio, load_audio
from paragrid.features.extract._cache import FeatureCache, content_hashes, default_cache_dir
from paragrid.features.extract._extract import extract_features, skipped_path
from paragrid.features.extract._hf import HF_PREFIX, HFExtractor, parse_layer
from paragrid.features.extract._opensmile import (
    FEATURE_LEVEL,
    FEATURE_SET,
    egemaps_names,
    extract_one,
    opensmile_names,
    opensmile_sets,
    opensmile_version,
)
from paragrid.features.extract._sets import make_extractor
from paragrid.features.extract._store import (
    FORMAT_VERSION,
    META_KEY,
    META_KEYS,
    atomic_write,
    feature_columns,
    read_features,
    write_parquet_atomic,
)

__all__ = [
    "HF_PREFIX",
    "FeatureCache",
    "HFExtractor",
    "content_hashes",
    "default_cache_dir",
    "make_extractor",
    "opensmile_names",
    "opensmile_sets",
    "parse_layer",
    "FEATURE_LEVEL",
    "FEATURE_SET",
    "FORMAT_VERSION",
    "META_KEY",
    "META_KEYS",
    "MIN_DURATION_S",
    "BadAudio",
    "atomic_write",
    "egemaps_names",
    "extract_features",
    "extract_one",
    "feature_columns",
    "load_audio",
    "opensmile_version",
    "read_features",
    "skipped_path",
    "write_parquet_atomic",
]
