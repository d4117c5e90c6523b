"""Training one probe head: settings (:mod:`probe.train.config`), the heads and their layers, the training loop
(:mod:`probe.train.loop`, :func:`probe.train.fit.fit_probe`), seeds side by side, presets, baselines and metrics."""
