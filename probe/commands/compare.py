"""``probe compare``: is backbone/probe A better than B on a corpus? A paired test over test speakers.

``probe compare --corpus emodb --a whisper-small:linear --b wav2vec2-base:multilayer [--preset paper]
[--results results]`` prints, for test macro-F1, UAR and accuracy, each side's mean over its runs with a 95% CI,
the difference A − B with its CI and a two-sided p-value (:func:`probe.results.uncertainty.compare_records`: runs paired
on the same splits; a sign-flip permutation test over the test speakers when each run tests one speaker, else a
two-way (speaker × run) clustered t test; a jackknife-t interval). With few test speakers it says why no
difference can be significant.
Several ``--corpus`` compare the averages over those corpora (speakers flipped and left out within each corpus).
Exit codes: 1 when a side has no records or the sides were tested on different splits, 2 for a bad option.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from probe.commands.errors import fail


NOT_DISTINGUISHABLE = "not distinguishable on this data"


class SelectionError(Exception):
    """No records, or records of several configurations, for one side of a comparison."""



def parse_side(text: str) -> tuple[str, str]:
    """``model:probe`` → ``(model, probe)`` (the model may contain ``/``, as hub ids do)."""
    model, sep, probe = text.rpartition(":")
    if not sep or not model or not probe:
        raise ValueError(f"expected MODEL:PROBE (e.g. whisper-small:linear), got {text!r}")
    return model, probe


def select_side(
    records: Iterable[dict[str, Any]], corpus: str, model: str, probe: str, *, preset: str = "paper",
    protocol: str = "holdout", classes: str = "all", config: str | None = None,
) -> list[dict[str, Any]]:
    """The records of one configuration of (corpus, model, probe); :class:`SelectionError` when there are none
    or when several configuration ids match and ``config`` does not pick one."""
    from probe.results.leaderboard import class_set_of
    from probe.results.records import record_config_id, record_preset

    found = [r for r in records if (r.get("corpus"), r.get("model"), r.get("probe"), r.get("protocol")) ==
             (corpus, model, probe, protocol) and class_set_of(r) == classes and record_preset(r)[0] == preset]
    ids = sorted({record_config_id(r) for r in found})
    if config:
        found = [r for r in found if record_config_id(r) == config]
    if not found:
        raise SelectionError(f"no {protocol}-{classes} records of {model}:{probe} on {corpus} with preset {preset}"
                             + (f" and config id {config} (found: {', '.join(ids)})" if config and ids else ""))
    if len({record_config_id(r) for r in found}) > 1:
        raise SelectionError(f"{model}:{probe} on {corpus} has {len(ids)} configurations ({', '.join(ids)}); pick "
                             "one with --config-a/--config-b (they are never pooled)")
    return found


def _p(value: float) -> str:
    """A p-value for print: ``–`` when undefined, ``<0.001`` when tiny."""
    return "–" if value != value else ("<0.001" if value < 0.001 else f"{value:.3f}")


def _ci(low: float, high: float) -> str:
    return "–" if low != low or high != high else f"[{low:.1f}, {high:.1f}]"


def verdict(name_a: str, name_b: str, result: dict[str, Any], alpha: float = 0.05) -> str:
    """``A is better …`` when the difference is significant at ``alpha``, else :data:`NOT_DISTINGUISHABLE`."""
    p = result["p_value"]
    if p != p or p >= alpha:
        return f"{name_a} vs {name_b}: {NOT_DISTINGUISHABLE} (p = {_p(p)})" if p == p else \
            f"{name_a} vs {name_b}: {NOT_DISTINGUISHABLE} (no interval: {result['note']})"
    better, worse = (name_a, name_b) if result["difference"] > 0 else (name_b, name_a)
    shown = "< 0.001" if p < 0.001 else f"= {_p(p)}"
    return f"{better} is better than {worse} by {abs(result['difference']):.1f} points (p {shown})"


def compare(
    corpus: Annotated[list[str], typer.Option("--corpus", help="Corpus to compare on; repeat it to compare the "
                                              "averages over several corpora.")],
    a: Annotated[str, typer.Option("--a", help="Side A as MODEL:PROBE, e.g. whisper-small:linear.")],
    b: Annotated[str, typer.Option("--b", help="Side B as MODEL:PROBE, e.g. wav2vec2-base:multilayer.")],
    results: Annotated[Path, typer.Option("--results", help="Results folder holding runs/.")] = Path("results"),
    preset: Annotated[str, typer.Option("--preset", help="Training preset of the records (paper or "
                                        "standardized).")] = "paper",
    protocol: Annotated[str, typer.Option("--protocol", help="holdout or kfold.")] = "holdout",
    classes: Annotated[str, typer.Option("--classes", help="Class set: all, 4 or a+b+c.")] = "all",
    config_a: Annotated[Optional[str], typer.Option("--config-a", help="Config id of side A, when it has "
                                                    "several.")] = None,
    config_b: Annotated[Optional[str], typer.Option("--config-b", help="Config id of side B.")] = None,
    resamples: Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap resamples (intervals with "
                                           "many test speakers).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the resampling.")] = 0,
    level: Annotated[float, typer.Option("--level", min=0.5, max=0.999, help="Confidence level.")] = 0.95,
) -> None:
    """Paired comparison of A − B on the same test speakers: difference, CI and a sign-flip p-value."""
    from probe.results.records import iter_records  # the engines load when the command runs: `probe --help` stays quick
    from probe.results.uncertainty import METRICS, UncertaintyError, comparisons_over_corpora, intervals_over_corpora

    try:
        (model_a, probe_a), (model_b, probe_b) = parse_side(a), parse_side(b)
    except ValueError as exc:
        fail(str(exc), 2)
    records = [r for _, r in iter_records(results)]
    if not records:
        fail(f"no run records under {results / 'runs'}: train probes with `probe run` first", 1)
    try:
        side_a = {c: select_side(records, c, model_a, probe_a, preset=preset, protocol=protocol, classes=classes,
                                 config=config_a) for c in corpus}
        side_b = {c: select_side(records, c, model_b, probe_b, preset=preset, protocol=protocol, classes=classes,
                                 config=config_b) for c in corpus}
    except SelectionError as exc:
        fail(str(exc), 1)
    where = corpus[0] if len(corpus) == 1 else f"the mean over {', '.join(corpus)}"
    table = Table(title=f"{a} (A) vs {b} (B) on {where}: test, percent, {level:.0%} CI", title_justify="left")
    for name in ("metric", "A", "B", "A − B", "p"):
        table.add_column(name, justify="left" if name == "metric" else "right", no_wrap=True)
    console = Console()
    summary = None
    notes: set[str] = set()
    options = dict(n_resamples=resamples, seed=seed, level=level)
    all_a, all_b = intervals_over_corpora(side_a, **options), intervals_over_corpora(side_b, **options)
    try:
        all_diff = comparisons_over_corpora(side_a, side_b, **options)
    except UncertaintyError as exc:
        fail(f"A and B cannot be compared: {exc}", 1)
    for metric in METRICS:
        ia, ib, diff = all_a[metric], all_b[metric], all_diff[metric]
        notes |= {n for n in (ia["note"], ib["note"], diff["note"]) if n}
        table.add_row(metric, f"{ia['mean']:.1f} {_ci(ia['ci_low'], ia['ci_high'])}",
                      f"{ib['mean']:.1f} {_ci(ib['ci_low'], ib['ci_high'])}",
                      f"{diff['difference']:+.1f} {_ci(diff['ci_low'], diff['ci_high'])}",
                      _p(diff["p_value"]))
        summary = summary or (diff, ia)
    console.print(table)
    diff, ia = summary
    console.print(f"macro-F1: {escape(verdict(a, b, diff, 1 - level))}", highlight=False, soft_wrap=True)
    interval = diff["interval"] + (f", df {diff['df']:.0f}" if diff["interval"] != "bootstrap" else
                                   f", {resamples} resamples")
    test = (f"{diff['test']} over {diff['cluster']}s (smallest possible {_p(diff['p_min'])})"
            if diff["test"].startswith("sign-flip") else diff["test"])
    console.print(f"{diff['n_test_speakers']} test {diff['cluster']}s, {diff['n_test_clips']} clips; runs A "
                  f"{sum(map(len, side_a.values()))}, B {sum(map(len, side_b.values()))}; p: {test}; CI: "
                  f"{interval}; seed {seed}; p-values are per metric, uncorrected.", highlight=False, soft_wrap=True)
    for note in sorted(notes):
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add `probe compare` to the `probe` app."""
    app.command("compare")(compare)
