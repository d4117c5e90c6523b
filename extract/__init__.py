"""Stage one of the suite: audio, corpora, speech-model backbones and the HDF5 feature cache.

Nothing here knows about probes; the cache file is the only interface to :mod:`probe`.
"""
