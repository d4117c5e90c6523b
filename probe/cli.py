"""The ``probe`` command line: one command per step of the benchmark."""

from __future__ import annotations

import typer

from probe.commands import compare
from probe.commands import corpora, demo, extract, report, run, status, synth
from probe.commands import models as models_command
from probe.commands import transfer as transfer_command
from probe.commands import plan as plan_command

app = typer.Typer(
    name="probe",
    help=(
        "Frozen-feature probing benchmark for cross-lingual speech emotion recognition.\n\n"
        "Steps: `probe extract` caches every layer of a speech model in HDF5; `probe run` trains probes on the "
        "caches; `probe report` writes tables and figures. `probe demo` does all three on synthetic speech."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Keep `probe` a command group whatever the number of sub-commands."""


for _module in (synth, extract, corpora, run, report, demo, status):
    _module.register(app)
compare.register(app)
transfer_command.register(app)
plan_command.register(app)
models_command.register(app)


def main() -> None:
    """Entry point of the ``probe`` console script."""
    app()


if __name__ == "__main__":
    main()
