"""Corpora in: a corpus release (or a manifest CSV) becomes one manifest DataFrame.

The manifest (docs/FORMATS.md section 1: one row per utterance with path, speaker, gender,
emotion, ...) is the contract between a corpus and the extractor (`paragrid.features.extract`).
This package reads the five supported releases (IEMOCAP, MSP-IMPROV, RAVDESS, CREMA-D, EmoDB)
and user manifests, maps raw labels to classes and reports every decision it makes.

Exports:
  load_corpus, FORMATS          the one entry point, and the formats it reads
  probe_audio                   duration and sample rate from an audio header
  CorpusWarning                 a corpus that loads but may not be what the study expects
  classes_label_map, parse_classes  --classes: keep named classes without writing a map
  LabelMap, resolve_label_map,  label maps: the defaults of every format, user maps, and a raw
  DEFAULT_MAPS, DEFAULT_ALIASES, describe    label's documented meaning
  MANIFEST_COLUMNS, read_manifest_csv, validate_manifest, write_manifest, normalise_gender
                                the manifest contract itself

Internals: `_releases` (one parser per release format), `_manifest` (manifest columns, CSV
reading and writing), `_labels` (label maps), `_checks` (label map applied, corpus checks),
`_load` (the shared pipeline and `load_corpus`).
"""

from paragrid.features.corpora._classes import classes_label_map, parse_classes
from paragrid.features.corpora._labels import (
    DEFAULT_ALIASES,
    DEFAULT_MAPS,
    CorpusWarning,
    LabelMap,
    describe,
    resolve_label_map,
)
from paragrid.features.corpora._load import FORMATS, load_corpus, probe_audio
from paragrid.features.corpora._manifest import (
    MANIFEST_COLUMNS,
    normalise_gender,
    read_manifest_csv,
    validate_manifest,
    write_manifest,
)

__all__ = [
    "classes_label_map", "parse_classes",
    "DEFAULT_ALIASES",
    "DEFAULT_MAPS",
    "FORMATS",
    "MANIFEST_COLUMNS",
    "CorpusWarning",
    "LabelMap",
    "describe",
    "load_corpus",
    "normalise_gender",
    "probe_audio",
    "read_manifest_csv",
    "resolve_label_map",
    "validate_manifest",
    "write_manifest",
]
