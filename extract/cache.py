"""The feature cache ``features/<corpus>/<model>.h5``: the only interface between extraction and probing.

Layout (schema :data:`SCHEMA`):

* root attributes: ``schema, corpus, language, model, family, pretraining, languages, checkpoint, weights,
  n_layers`` (L+1 states), ``dim, frame_rate, sample_rate, whisper_input`` (Whisper only), ``precision,
  classes, manifest_hash, versions`` (JSON), ``created, complete``;
* ``utterances/{id,label,speaker,gender,duration,n_frames,offset}``: one row per utterance, manifest order;
* ``layers/00`` … ``layers/L``: ``(total_frames, dim)`` float16, contiguous, uncompressed (caches written
  before were chunked along frames; they read the same);
* ``pooled/mean``: ``(N, L+1, dim)`` float32, each layer's mean over the utterance's frames;
* ``skipped/{id,path,reason}``: files of the corpus folder that could not be used, and why;
* ``notes/{id,path,reason}`` (optional): clips used although odd (a truncated file read as far as it goes).

The code lives in :mod:`extract.cache_format` (names, attribute encoding), :mod:`extract.cache_write` (the
writer, used by the merge of :mod:`extract.shards`), :mod:`extract.cache_read` (:class:`FeatureCache`, the
probes' side) and :mod:`extract.cache_status` (status of a file, finding and scanning caches); this module
gathers them under one import path.
"""

from __future__ import annotations

from extract.cache_format import (
    HDF5_SIGNATURE, NUMERIC_COLUMNS, SCHEMA, TEXT_COLUMNS, CacheError, CacheStatus, decode_attr, encode_attr,
    layer_name, nonfinite_error,
)
from extract.cache_read import FeatureCache
from extract.cache_status import cache_path, cache_status, find_caches, scan_caches
from extract.cache_write import finalise, write_cache, write_cache_columns, write_cache_from_states

__all__ = [
    "HDF5_SIGNATURE", "NUMERIC_COLUMNS", "SCHEMA", "TEXT_COLUMNS", "CacheError", "CacheStatus", "FeatureCache",
    "cache_path", "cache_status", "decode_attr", "encode_attr", "find_caches", "finalise", "layer_name",
    "nonfinite_error",
    "scan_caches", "write_cache", "write_cache_columns", "write_cache_from_states",
]
