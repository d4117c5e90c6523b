"""``probe models list``: the model registry — checkpoint, states × dim, parameters, languages, pre-training,
and whether real weights are available offline."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

models_app = typer.Typer(help="The speech models the suite knows by name.", no_args_is_help=True)


@models_app.command("list")
def list_command(
    family: Annotated[str, typer.Option(help="Only this family (e.g. whisper, wavlm, hubert); default: all.")] = "",
    params: Annotated[bool, typer.Option(help="Show parameter counts (of the architecture built on the meta "
                                               "device; read from a table the tests check against it).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
) -> None:
    """Print every registered model: suite name, family, checkpoint, states × dim, parameters (Whisper: the
    encoder, the part that is run), languages, pre-training and offline availability.

    `probe extract --model NAME` accepts these names, or a Hugging Face id of the same families.
    """
    from extract.backbones import MODELS
    from extract.backbones.info import format_params, model_info

    specs = [s for s in MODELS.values() if not family or s.family == family]
    if not specs:
        families = sorted({s.family for s in MODELS.values()})
        raise typer.BadParameter(f"unknown family {family!r}; known: {', '.join(families)}", param_hint="--family")
    rows = [model_info(s, params=params) for s in specs]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(asdict(row)))
        return
    table = Table(title=f"{len(rows)} registered models", show_lines=False)
    for column in ("name", "family", "checkpoint", "states × dim", "params", "languages", "pre-training", "offline"):
        table.add_column(column, no_wrap=column in ("name", "states × dim", "params"))
    for r in rows:
        table.add_row(r.name, r.family, r.checkpoint, f"{r.n_states} × {r.dim}", format_params(r.params),
                      r.languages, r.pretraining or "—", r.offline)
    Console(width=200).print(table)


def register(app: typer.Typer) -> None:
    """Add the ``probe models`` group to the app."""
    app.add_typer(models_app, name="models")
