"""Transfer outputs of ``probe report``, from the records under ``<results>/transfer/runs`` (``probe transfer``).

Per backbone, probe and preset: the ``pair`` matrix (rows train domain, columns test domain, test macro-F1 mean
over seeds with a speaker- and run-clustered 95% jackknife-t interval pooled over the seeds when
:mod:`probe.results.uncertainty` is installed, the diagonal being the in-domain reference) as CSV, Markdown, LaTeX and
a heatmap; the language × language version (domains of one language merged by averaging their cells); the
relative drop from in-domain, 100·(F1(B→B) − F1(A→B)) / F1(B→B); the other protocols beside the in-domain score
of each test domain; and the backbone comparison of mean off-diagonal F1, English-only vs multilingual
pre-training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle

from probe.report.naming import file_safe, group_label, order_models, probe_label
from probe.report.plotting import FORMATS, HEATMAP_CMAP, new_figure, report_style, save_figure
from probe.report.render import latex_escape
from probe.results.records import read_record
from probe.run.transfer import IN_DOMAIN

try:  # speaker- and run-clustered intervals (probe.results.uncertainty); cells have none without it
    from probe.results.uncertainty import interval_of_records
except ImportError:  # pragma: no cover - depends on the installed version
    interval_of_records = None

KEYS = ["model", "probe", "preset", "config_id"]


@dataclass
class TransferReport:
    """Files written and the Markdown section for REPORT.md."""

    tables: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    markdown: str = ""
    notes: list[str] = field(default_factory=list)


def load_transfer(results: Path) -> tuple[pd.DataFrame, dict[int, dict[str, Any]]]:
    """One row per transfer record (and the records by row), from ``<results>/transfer/runs``."""
    rows, records = [], {}
    for path in sorted((Path(results) / "transfer" / "runs").rglob("*.json")):
        try:
            rec = read_record(path)
        except ValueError:
            continue
        t = rec.get("transfer") or {}
        records[len(rows)] = rec
        rows.append({"model": rec["model"], "languages": rec.get("languages", ""), "probe": rec["probe"],
                     "preset": rec.get("preset", ""), "config_id": rec.get("config_id", ""),
                     "protocol": t.get("protocol", ""), "train": t.get("train", ""), "test": rec["corpus"],
                     "train_language": "+".join(t.get("train_languages", [])), "test_language": t.get("test_language", ""),
                     "classes": "+".join(rec.get("classes", [])), "seed": rec["seed"],
                     "macro_f1": rec["metrics"]["test"]["macro_f1"], "row": len(rows)})
    return pd.DataFrame(rows), records


def _interval(records: Sequence[dict[str, Any]]) -> tuple[float, float] | None:
    if interval_of_records is None:
        return None
    try:
        found = interval_of_records(list(records), metric="macro_f1", n_resamples=1000, seed=0)
    except ValueError:
        return None
    return float(found["ci_low"]), float(found["ci_high"])


def cells(frame: pd.DataFrame, records: dict[int, dict[str, Any]], row: str = "train", col: str = "test",
          intervals: bool = True) -> pd.DataFrame:
    """Mean, std and count over seeds per (row, col), with the pooled speaker-clustered interval."""
    out = []
    for (r, c), group in frame.groupby([row, col], sort=False):
        ci = _interval([records[i] for i in group["row"]]) if intervals else None
        out.append({row: r, col: c, "macro_f1_mean": group["macro_f1"].mean(),
                    "macro_f1_std": group["macro_f1"].std(ddof=1) if len(group) > 1 else np.nan,
                    "n_seeds": group["seed"].nunique(), "ci_low": ci[0] if ci else np.nan,
                    "ci_high": ci[1] if ci else np.nan, "classes": "/".join(sorted(group["classes"].unique()))})
    return pd.DataFrame(out)


def in_domain_scores(group: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(test domain, classes) → in-domain test macro-F1 (mean over seeds): the pair diagonal, and the in-domain
    references ``probe transfer`` trains over the smaller class space of transfers into a domain."""
    sel = group[(group["train"] == group["test"]) & group["protocol"].isin(["pair", IN_DOMAIN])]
    return {k: float(v) for k, v in sel.groupby(["test", "classes"])["macro_f1"].mean().items()}


def relative_drop(pair: pd.DataFrame, in_domain: dict[tuple[str, str], float] | None = None) -> pd.DataFrame:
    """``drop_pct`` of every off-diagonal cell: 100·(in-domain F1 of the test domain − cell F1) / in-domain F1,
    the in-domain F1 over the **same classes** as the cell (``in_domain``: from :func:`in_domain_scores`, else the
    matrix's diagonal); NaN where there is none (a 3-class cell is never divided by a 4-class diagonal)."""
    diag = in_domain if in_domain is not None else {(r.test, r.classes): r.macro_f1_mean for r in pair.itertuples()
                                                    if r.train == r.test}
    out = pair[pair["train"] != pair["test"]].copy()
    out["in_domain"] = [diag.get((t, c), np.nan) for t, c in zip(out["test"], out["classes"])]
    out["drop_pct"] = 100 * (out["in_domain"] - out["macro_f1_mean"]) / out["in_domain"]
    return out


def _matrix_text(cellframe: pd.DataFrame, row: str, col: str, latex: bool) -> str:
    rows = list(dict.fromkeys(cellframe[row]))
    cols = list(dict.fromkeys(cellframe[col]))
    value = {(r[row], r[col]): r for _, r in cellframe.iterrows()}
    lines = []
    esc = latex_escape if latex else (lambda s: str(s))
    head = [f"{row} \\ {col}" if not latex else f"{row} $\\backslash$ {col}"] + [esc(c) for c in cols]
    for r in rows:
        items = [esc(r)]
        for c in cols:
            v = value.get((r, c))
            if v is None:
                items.append("–")
                continue
            text = f"{v['macro_f1_mean']:.1f}"
            if not np.isnan(v["ci_low"]):
                text += f" [{v['ci_low']:.1f}, {v['ci_high']:.1f}]"
            if r == c:
                text = f"\\textbf{{{text}}}" if latex else f"**{text}**"
            items.append(text)
        lines.append(items)
    if latex:
        body = [" & ".join(head) + r" \\ \midrule"] + [" & ".join(i) + r" \\" for i in lines]
        return "\n".join([r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule", *body, r"\bottomrule",
                          r"\end{tabular}", ""])
    sep = "|:---|" + "---:|" * len(cols)
    return "\n".join(["| " + " | ".join(head) + " |", sep, *["| " + " | ".join(i) + " |" for i in lines], ""])


def _write_matrix(cellframe: pd.DataFrame, stem: Path, row: str, col: str) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(f"{stem.name}.{ext}") for ext in ("csv", "md", "tex")]  # names may hold dots
    cellframe.assign(diagonal=cellframe[row] == cellframe[col]).to_csv(paths[0], index=False, float_format="%.2f")
    paths[1].write_text(_matrix_text(cellframe, row, col, False), encoding="utf-8")
    paths[2].write_text(_matrix_text(cellframe, row, col, True), encoding="utf-8")
    return paths


def heatmap(cellframe: pd.DataFrame, stem: Path, title: str, row: str = "train", col: str = "test",
            formats: Sequence[str] = FORMATS) -> list[Path]:
    """The matrix as an annotated heatmap, the diagonal outlined."""
    grid = cellframe.pivot(index=row, columns=col, values="macro_f1_mean")
    grid = grid.reindex(index=list(dict.fromkeys(cellframe[row])), columns=list(dict.fromkeys(cellframe[col])))
    with report_style():
        fig = new_figure(1.2 + 0.75 * grid.shape[1], 1.0 + 0.6 * grid.shape[0])
        ax = fig.add_subplot()
        sns.heatmap(grid, ax=ax, annot=True, fmt=".0f", cmap=HEATMAP_CMAP, vmin=0, vmax=100,
                    cbar_kws={"label": "test macro-F1 (%)"})
        for i, name in enumerate(grid.index):
            if name in grid.columns:
                j = list(grid.columns).index(name)
                ax.add_patch(Rectangle((j, i), 1, 1, fill=False, edgecolor="white", lw=2))
        kind = "language" if row.endswith("language") else "domain"
        ax.set_xlabel(f"test {kind} (held-out speakers)")
        ax.set_ylabel(f"train {kind}")
        ax.tick_params(axis="y", labelrotation=0)
        ax.set_title(title)
        return save_figure(fig, stem, formats)


def _shown(paths: Sequence[Path]) -> Path:
    """The PNG of a figure's files (else the first)."""
    return next((p for p in paths if p.suffix == ".png"), paths[0])


def write_transfer(results: Path, out: Path, formats: Sequence[str] = FORMATS, intervals: bool = True) -> TransferReport:
    """Write every transfer table and figure under ``out/tables/transfer`` and ``out/figures/transfer``; the
    returned ``markdown`` is the REPORT.md section (empty when there are no transfer records)."""
    report = TransferReport()
    frame, records = load_transfer(results)
    if frame.empty:
        return report
    tables, figures = Path(out) / "tables" / "transfer", Path(out) / "figures" / "transfer"
    lines = ["## Cross-lingual transfer", "",
             "Rows: training domain; columns: test domain's held-out test speakers; cells: test macro-F1 (%), mean "
             "over seeds [95% speaker- and run-clustered interval, pooled over seeds]; **bold**: in-domain diagonal. "
             "Standardisation statistics (when the preset uses them) come from the training domains only; classes "
             "are those the two domains share.", ""]
    if interval_of_records is None and intervals:
        report.notes.append("probe.results.uncertainty is not available: transfer cells have no intervals")
    summary = []
    for key, group in frame.groupby(KEYS, sort=False):
        model, probe, preset, cid = key
        name = file_safe(f"{model}_{probe}_{preset}-{cid}")
        title = f"{model}, {probe_label(probe)} ({preset})"
        lines += [f"### {title}", ""]
        pair = cells(group[group["protocol"] == "pair"], records, intervals=intervals)
        if not pair.empty:
            summary.append(_pair_outputs(pair, group, records, report, tables, figures, name, title, formats, out,
                                         lines, intervals))
        others = _protocols(group, pair)
        if not others.empty:
            path = tables / f"protocols_{name}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            others.to_csv(path, index=False, float_format="%.2f")
            report.tables.append(path)
            lines += ["Other protocols (test macro-F1, mean over seeds) beside the in-domain score over the same "
                      "classes (trained for the purpose where a protocol's class space is smaller than the "
                      "domain's):", "",
                      "| " + " | ".join(others.columns) + " |", "|:---|:---|" + "---:|" * (len(others.columns) - 2)]
            lines += ["| " + " | ".join([str(r[0]), str(r[1]).replace("+", ", ")] + [f"{v:.1f}" for v in r[2:]])
                      + " |" for r in others.itertuples(index=False)]
            lines.append("")
    if summary:
        table = pd.DataFrame(summary)
        order = order_models(dict(zip(table["model"], table["languages"])))
        table["group"] = table["languages"].map(group_label)
        table = table.sort_values(["probe", "model"], key=lambda s: s.map(order.index) if s.name == "model" else s)
        path = tables / "backbones.csv"
        table.to_csv(path, index=False, float_format="%.2f")
        report.tables.append(path)
        lines += ["### Which backbone transfers best", "",
                  "| Backbone | Pre-training | Probe | In-domain | Mean off-diagonal | Relative drop (%) |",
                  "|:---|:---|:---|---:|---:|---:|"]
        lines += [f"| {r.model} | {r.group} | {probe_label(r.probe)} | {r.in_domain:.1f} | {r.off_diagonal:.1f} | "
                  f"{r.drop_pct:.1f} |" for r in table.itertuples()]
        lines.append("")
    report.markdown = "\n".join(lines)
    return report


def _pair_outputs(pair: pd.DataFrame, group: pd.DataFrame, records: dict[int, dict[str, Any]],
                  report: TransferReport, tables: Path, figures: Path, name: str, title: str,
                  formats: Sequence[str], out: Path, lines: list[str], intervals: bool) -> dict[str, Any]:
    """The pair matrix's files and Markdown; its row of the backbone comparison."""
    report.tables += _write_matrix(pair, tables / f"matrix_{name}", "train", "test")
    drawn = heatmap(pair, figures / f"matrix_{name}", title, formats=formats)
    report.figures += drawn
    lines += [_matrix_text(pair, "train", "test", False), f"![transfer matrix]({_shown(drawn).relative_to(out).as_posix()})", ""]
    lang = cells(group[group["protocol"] == "pair"], records, "train_language", "test_language", intervals=intervals)
    report.tables += _write_matrix(lang, tables / f"languages_{name}", "train_language", "test_language")
    if len(lang) != len(pair):  # corpora of one language merged: its own heatmap
        report.figures += heatmap(lang, figures / f"languages_{name}", f"{title}, by language", "train_language",
                                  "test_language", formats)
        lines += ["By language (corpora of one language merged):", "",
                  _matrix_text(lang, "train_language", "test_language", False)]
    drop = relative_drop(pair, in_domain_scores(group))
    unmatched = int(drop["in_domain"].isna().sum())
    drop_path = tables / f"drop_{name}.csv"
    drop.to_csv(drop_path, index=False, float_format="%.2f")
    report.tables.append(drop_path)
    if not drop.empty:
        lines += [f"Mean relative drop from in-domain: {drop['drop_pct'].mean():.1f}% over {len(drop)} off-diagonal "
                  f"cells (mean off-diagonal macro-F1 {drop['macro_f1_mean'].mean():.1f}, in-domain "
                  f"{pair.loc[pair['train'] == pair['test'], 'macro_f1_mean'].mean():.1f}); each cell against the "
                  "in-domain score over its own classes" + (f"; {unmatched} cells have none and are left out"
                                                           if unmatched else "") + ".", ""]
    model, probe, preset, cid = (group[k].iloc[0] for k in KEYS)
    return {"model": model, "languages": group["languages"].iloc[0], "probe": probe, "preset": preset,
            "config_id": cid, "in_domain": pair.loc[pair["train"] == pair["test"], "macro_f1_mean"].mean(),
            "off_diagonal": drop["macro_f1_mean"].mean() if not drop.empty else np.nan,
            "drop_pct": drop["drop_pct"].mean() if not drop.empty else np.nan}


def _protocols(group: pd.DataFrame, pair: pd.DataFrame) -> pd.DataFrame:
    """Per test domain and class space: in-domain over those classes, mean pair transfer into it from the other
    domains, and the other protocols' mean macro-F1 (one column each)."""
    sel = group[~group["protocol"].isin(["pair", IN_DOMAIN])]
    if sel.empty:
        return pd.DataFrame()
    out = sel.groupby(["test", "classes", "protocol"])["macro_f1"].mean().unstack("protocol").reset_index()
    out.columns.name = None
    diag = in_domain_scores(group)  # over the same classes as the protocol's cells (NaN where none was trained)
    out.insert(2, "in_domain", [diag.get((t, c), np.nan) for t, c in zip(out["test"], out["classes"])])
    if not pair.empty:
        into = pair[pair["train"] != pair["test"]].groupby("test")["macro_f1_mean"].mean()
        out.insert(3, "pair_from_others", out["test"].map(into))
    return out
