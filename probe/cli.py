"""The ``probe`` command line: one command per step of the benchmark."""

from __future__ import annotations

import typer

from probe.commands import compare, corpora, demo, extract, models, plan, report, run, status, synth, transfer

app = typer.Typer(
    name="probe",
    help=(
        "Frozen-feature probing benchmark for cross-lingual speech emotion recognition.\n\n"
        "Steps: `probe extract` caches every layer of a speech model in HDF5; `probe run` trains probes on the "
        "caches; `probe report` writes tables and figures. `probe demo` does all three on synthetic speech. "
        "Also: `probe transfer` (cross-corpus and cross-lingual), `probe compare` (paired tests), `probe plan` "
        "(disk and time before extracting), `probe models list`, `probe status` (cluster jobs)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Keep `probe` a command group whatever the number of sub-commands."""


for _module in (synth, extract, corpora, models, plan, run, transfer, compare, report, demo, status):
    _module.register(app)


def main() -> None:
    """Entry point of the ``probe`` console script."""
    app()


if __name__ == "__main__":
    main()
