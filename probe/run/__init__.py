"""Running the benchmark: what to run (selection, splits, transfer plans, the :class:`probe.run.spec.RunJob`), one
runner for in-domain and transfer runs (:mod:`probe.run.runner`, :mod:`probe.run.transfer_run`), the execute step
that trains and writes one record, and parallel caches."""
