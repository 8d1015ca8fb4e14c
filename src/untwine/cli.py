"""The ``untwine`` command: a thin typer layer over the Python API.

Method hyperparameters are not listed here: any ``--name value`` the command does not define
is passed to the configuration as a flat setting (``--beta 4``, ``--c-max 25``), where the
method's own settings model validates it. ``untwine methods`` lists them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
import yaml

from untwine.errors import ConfigError, UntwineError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Learn and measure disentangled representations with VAEs.",
)


def _extra_settings(args: list[str]) -> dict[str, Any]:
    """Parse ``--key value`` / ``--key=value`` pairs; values are read as YAML scalars."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"unexpected argument {arg!r}; settings are given as --name value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(f"--{key} needs a value")
            value = args[i + 1]
            i += 1
        out[key.replace("-", "_")] = yaml.safe_load(value)
        i += 1
    return out


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    config: Path | None = typer.Option(None, help="config.yaml to start from (e.g. a run's)"),
    resume: bool = typer.Option(False, help="continue from the newest checkpoint in --out"),
    dataset: str | None = typer.Option(None, help="registered dataset name"),
    method: str | None = typer.Option(None, help="training method (see `untwine methods`)"),
    steps: int | None = typer.Option(None, help="total optimisation steps"),
    seed: int | None = typer.Option(None),
    out: Path | None = typer.Option(None, help="run directory"),
    checkpoint_every: int | None = typer.Option(None, help="steps between checkpoints"),
    log_every: int | None = typer.Option(None, help="steps between log.jsonl records"),
    threads: int | None = typer.Option(None, help="CPU threads (default: all available)"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Train a model. Method settings follow as --name value (e.g. --beta 4)."""
    from untwine.train import train as run_training

    settings = {
        "dataset": dataset,
        "method": method,
        "steps": steps,
        "seed": seed,
        "out": str(out) if out else None,
        "checkpoint_every": checkpoint_every,
        "log_every": log_every,
        **_extra_settings(ctx.args),
    }
    settings = {k: v for k, v in settings.items() if v is not None}
    if config is None:
        for required in ("method", "steps", "out"):
            if required not in settings:
                raise ConfigError(f"--{required} is required (or give --config)")
    run = run_training(
        config=config, resume=resume, threads=threads, progress=not quiet, **settings
    )
    typer.echo(f"run: {run.path}  (step {run.step})")


@app.command()
def methods() -> None:
    """List the training methods and their settings with defaults."""
    from untwine.objectives import METHODS

    for name in METHODS.names():
        params = METHODS.get(name).Params
        fields = [
            f"--{k.replace('_', '-')} {f.default!r}"
            for k, f in params.model_fields.items()
            if k != "name"
        ]
        typer.echo(f"{name:<14} {'  '.join(fields)}")


@app.command()
def datasets() -> None:
    """List the registered datasets."""
    from untwine import data

    for name in data.names():
        typer.echo(name)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="run directory"),
    steps: int | None = typer.Option(None, help="override the demo's step budget"),
) -> None:
    """Render dSprites, train a model on it and draw its traversals and reconstructions."""
    from untwine.demo import run_demo

    run_demo(out, **({"steps": steps} if steps else {}))


def main() -> None:
    from untwine.registry import load_plugins

    try:
        load_plugins()
        app()
    except UntwineError as e:
        typer.echo(f"untwine: error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("untwine: interrupted (a run continues with --resume)", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
