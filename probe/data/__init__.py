"""Feeding probes from a feature cache: pooled vectors and frames held in memory or streamed from HDF5
(:mod:`probe.data.cache_data`), the blocked batch plan, frame statistics, and transfer's multi-cache feed."""
