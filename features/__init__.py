"""features stage of paragrid: corpora in, features out (openSMILE sets, eGeMAPS by default, or
self-supervised embeddings; docs/FORMATS.md).

Subpackages:
  paragrid.features.corpora  a corpus release or manifest CSV -> one manifest DataFrame
                             (loaders per release format, label maps, the manifest contract)
  paragrid.features.extract  a manifest -> one features parquet per corpus (openSMILE
                             sets or hf: models, content-keyed cache, worker pool) and the parquet store that every
                             later stage reads with `read_features`
  paragrid.features.synth    the built-in synthetic corpora synth-a and synth-b and their
                             source-filter voice

Import public names from the subpackages; this package itself exports nothing.
"""
