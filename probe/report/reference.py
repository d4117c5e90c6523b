"""Published numbers to print beside ours (``probe report --compare paper``).

The files live in ``probe/reference/`` (see its README): D'Asaro et al., CLiC-it 2024, Table 2 (F1 averaged over
nine corpora per backbone × probe) and Table 3 (F1 per corpus × backbone with its best probe, plus an AST
baseline trained from scratch).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from io import StringIO

import pandas as pd

PAPER_PROBES: dict[str, str] = {"linear": "linear", "nonlinear": "non_linear", "multilayer": "multi_layer"}
"""Our probe names → the column names of the paper's Table 2."""

ALIASES: dict[str, str] = {"paper": "dasaro2024", "dasaro2024": "dasaro2024"}

NOT_LIKE_FOR_LIKE: dict[str, str] = {
    "oreau": "Oréau: version 2 here (434 files), the paper's 502 files are version 1",
    "aesdd": "AESDD: 604 usable files here, 500 in the paper",
    "demos": "DEMoS: 8 classes here (guilt included, 9697 files), not the paper's class set",
}
"""Corpora whose published cells are not like-for-like with ours (other files or classes), and why."""


@dataclass(frozen=True)
class Reference:
    """A published study's numbers (macro-F1 in percent), indexed by our model, probe and corpus names."""

    key: str
    citation: str
    short: str
    by_probe: pd.DataFrame
    """Table 2: index backbone, columns our probe names (linear, nonlinear, multilayer)."""
    by_corpus: pd.DataFrame
    """Table 3: index corpus, columns backbones (each with the paper's best probe)."""
    baseline: pd.Series
    """Per-corpus baseline trained from scratch (AST), index corpus."""
    baseline_name: str
    best_probe: dict[str, str]
    """The probe behind each backbone's Table 3 column, as the paper reports it."""

    def probe_value(self, model: str, probe: str) -> float | None:
        """Published corpus-averaged F1 of a backbone × probe, or ``None`` if the paper has no such cell."""
        if model in self.by_probe.index and probe in self.by_probe.columns:
            return float(self.by_probe.at[model, probe])
        return None

    def corpus_value(self, corpus: str, model: str) -> float | None:
        """Published F1 of a backbone (with its best probe) on a corpus, or ``None``."""
        if corpus in self.by_corpus.index and model in self.by_corpus.columns:
            return float(self.by_corpus.at[corpus, model])
        return None

    def caveat(self, corpus: str) -> str:
        """Why the published value of ``corpus`` is not like-for-like with ours ("" when it is)."""
        return NOT_LIKE_FOR_LIKE.get(corpus, "") if self.key == "dasaro2024" else ""

    @property
    def corpora(self) -> list[str]:
        return list(self.by_corpus.index)

    @property
    def models(self) -> list[str]:
        return list(self.by_probe.index)


def _csv(name: str) -> pd.DataFrame:
    text = resources.files("probe").joinpath("reference", name).read_text(encoding="utf-8")
    return pd.read_csv(StringIO(text))


def load_reference(name: str = "paper") -> Reference:
    """The published numbers called ``name`` (``paper`` or ``dasaro2024``); ``ValueError`` for others."""
    key = ALIASES.get(name.strip().lower())
    if key is None:
        raise ValueError(f"unknown reference {name!r}; known: {', '.join(sorted(ALIASES))}")
    table2 = _csv("dasaro2024_table2.csv").set_index("backbone")
    table2 = table2.rename(columns={v: k for k, v in PAPER_PROBES.items()})[list(PAPER_PROBES)]
    table3 = _csv("dasaro2024_table3.csv").set_index("corpus")
    baseline = table3.pop("ast_baseline")
    table3 = table3.drop(columns=["language"])
    best = {m: ("multilayer" if m.startswith(("wav2vec2", "xls-r")) else "linear") for m in table3.columns}
    return Reference(
        key=key,
        citation=(
            "D'Asaro, Márquez Villacís, Rizzo, Bottino: Using Large Speech Models for Feature Extraction in "
            "Cross-Lingual Speech Emotion Recognition (CLiC-it 2024)"
        ),
        short="D'Asaro et al., CLiC-it 2024",
        by_probe=table2.astype(float),
        by_corpus=table3.astype(float),
        baseline=baseline.astype(float),
        baseline_name="AST",
        best_probe=best,
    )
