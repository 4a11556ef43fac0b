"""The built-in synthetic corpora synth-a and synth-b, and the voice model that speaks them.

The real emotion corpora are licensed; these two let the whole pipeline (openSMILE -> grid ->
report) run anywhere, with the study's questions still real: emotion learnable but not
trivially, gender easy, and cross-corpus transfer costing accuracy. Every sample is fixed by
the seed, whatever the number of processes.

Exports:
  write_corpora, write_corpus_set, MANIFEST_COLUMNS
                               writing corpora to disk (wav/ + manifest.csv per corpus)
  CorpusConfig, default_configs, many_configs, make_speakers, make_sentences, plan_corpus, Planned,
  synthesise_utterance         designing a corpus and synthesising one utterance
  Speaker, Voice, Segment, Sentence, make_speaker, make_sentence, resolve_voice, render,
  EMOTIONS, SR                 the source-filter voice
  Channel, apply_channel, to_pcm16
                               the recording chain

Internals: `_write` (processes, files, manifests), `_corpus` (configs, plan, seed streams),
`_voice` (phonetic tables, speakers, emotions, sentences), `_render` (waveform synthesis),
`_channel` (room, noise, microphone).
"""

from paragrid.features.synth._channel import Channel, apply_channel, to_pcm16
from paragrid.features.synth._corpus import (
    CorpusConfig,
    Planned,
    default_configs,
    make_sentences,
    many_configs,
    make_speakers,
    plan_corpus,
    synthesise_utterance,
)
from paragrid.features.synth._render import render
from paragrid.features.synth._voice import (
    EMOTIONS,
    SR,
    Segment,
    Sentence,
    Speaker,
    Voice,
    make_sentence,
    make_speaker,
    resolve_voice,
)
from paragrid.features.synth._write import MANIFEST_COLUMNS, write_corpora, write_corpus_set

__all__ = [
    "EMOTIONS",
    "MANIFEST_COLUMNS",
    "SR",
    "Channel",
    "CorpusConfig",
    "Planned",
    "Segment",
    "Sentence",
    "Speaker",
    "Voice",
    "apply_channel",
    "default_configs",
    "make_sentence",
    "make_speaker",
    "make_sentences",
    "make_speakers",
    "many_configs",
    "plan_corpus",
    "render",
    "resolve_voice",
    "synthesise_utterance",
    "to_pcm16",
    "write_corpora",
    "write_corpus_set",
]
