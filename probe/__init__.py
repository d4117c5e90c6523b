"""Stage two of the suite: splits, probe heads, training, metrics, records, reports and the ``probe`` command.

It reads feature caches written by :mod:`extract` and never touches audio or models.
"""
