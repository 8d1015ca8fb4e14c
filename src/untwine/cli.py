"""The ``untwine`` command: a thin typer layer over the Python API.

Method hyperparameters are not listed here: any ``--name value`` the command does not define
is passed to the configuration as a flat setting (``--beta 4``, ``--c-max 25``), where the
method's own settings model validates it. ``untwine methods`` lists them.
"""

from __future__ import annotations

import sys
import warnings
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
    dataset_path: str | None = typer.Option(None, help="the dataset's file or folder"),
    method: str | None = typer.Option(None, help="training method (see `untwine methods`)"),
    preset: str | None = typer.Option(None, help="named settings (e.g. betavae-dsprites)"),
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
    from untwine.train.signals import RunInterrupted

    settings = {
        "dataset": dataset,
        "dataset_path": dataset_path,
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
        from untwine.objectives import presets

        given = {**(presets.get(preset)["settings"] if preset else {}), **settings}
        for required in ("method", "steps", "out"):
            if required not in given:
                raise ConfigError(f"--{required} is required (or give --config)")
    try:
        run = run_training(
            config=config,
            preset=preset,
            resume=resume,
            threads=threads,
            progress=not quiet,
            **settings,
        )
    except RunInterrupted as e:  # stopped by SIGTERM/SIGINT with a checkpoint written
        typer.echo(f"untwine: interrupted ({e})", err=True)
        raise typer.Exit(e.exit_code) from None  # 128 + signum, as a shell reports it
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
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="run directory"),
    steps: int | None = typer.Option(None, help="override the demo's step budget"),
) -> None:
    """Render dSprites, train a model on it and draw its traversals and reconstructions."""
    from untwine.demo import run_demo

    run_demo(out, **({"steps": steps} if steps else {}))


@app.command()
def traverse(
    run_dir: Path = typer.Argument(..., help="run directory"),
    out: Path | None = typer.Option(None, help="folder for the files (default: the run's)"),
    seeds: str | None = typer.Option(None, help="dataset indices of seed images, e.g. 0,517"),
    num_seeds: int = typer.Option(2, help="random seed images when --seeds is not given"),
    prior: bool = typer.Option(False, help="traverse around the prior mean instead"),
    mode: str = typer.Option("quantile", help="quantile (of the posterior means) or interval"),
    limit: float = typer.Option(2.0, help="interval mode: traverse [-limit, limit]"),
    low: float = typer.Option(0.05, help="quantile mode: lower quantile"),
    high: float = typer.Option(0.95, help="quantile mode: upper quantile"),
    values: int = typer.Option(9, help="values per row"),
    points: int = typer.Option(10_000, help="images encoded for KL order, quantiles and MI"),
    seed: int = typer.Option(0, help="seed of the random choices"),
) -> None:
    """Draw latent traversals of a run: traversals.png and traversals.gif."""
    from untwine.viz.traversals import traverse_run

    png, gif = traverse_run(
        run_dir,
        out,
        seed_indices=_int_list(seeds, "--seeds"),
        num_seeds=num_seeds,
        prior=prior,
        mode=mode,
        limit=limit,
        quantiles=(low, high),
        num_values=values,
        num_points=points,
        seed=seed,
    )
    typer.echo(f"{png}\n{gif}")


@app.command()
def report(
    path: Path = typer.Argument(..., help="a run directory, or a folder of runs (a study)"),
    out: Path | None = typer.Option(None, help="the HTML file (default: PATH/report.html)"),
    each: bool = typer.Option(False, help="folder: also write every run's own page"),
    points: int = typer.Option(10_000, help="images encoded per run for the pictures"),
    seed: int = typer.Option(0, help="seed of the random choices"),
) -> None:
    """Write a self-contained HTML report of a run, or one comparing every run in a folder."""
    from untwine import study
    from untwine.viz.report import write_report

    if not path.is_dir():
        raise ConfigError(f"{path}: no such run directory or folder")
    # a study folder is read through its index: every cell of the spec, pending ones too
    write = study.write_report if (path / "study.yaml").is_file() else write_report
    typer.echo(str(write(path, out, each=each, num_points=points, seed=seed)))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def evaluate(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="a run directory, or a folder of runs (a study)"),
    metrics: str | None = typer.Option(None, help="comma-separated, e.g. mig,sap (default: all)"),
    seed: int = typer.Option(0, help="seed of the metrics' sampling"),
    precision: str = typer.Option(
        "auto",
        help="auto: the FactorVAE and beta-VAE scores read codes in the run's own precision, "
        "the other metrics fp32; fp32: every metric fp32",
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Score runs with the metrics, merging the results into each run's metrics.json.
    Metric settings follow as --name value (e.g. --num-points 2000, --dci-model fast)."""
    from untwine.metrics import evaluate_folder
    from untwine.study import format_rows

    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    rows = evaluate_folder(path, names, seed, precision, **_extra_settings(ctx.args))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    columns = [c for c in columns if c != "error"] + (["error"] if "error" in columns else [])
    typer.echo(format_rows(columns, rows, "json" if as_json else "table"), nl=as_json)


@app.command()
def select(
    folder: Path = typer.Argument(..., help="a study folder, or any folder of run folders"),
    by: str = typer.Option("udr", help="udr, or a score of the unsupervised metric"),
    points: int = typer.Option(10_000, help="images encoded per run"),
    seed: int = typer.Option(0, help="seed of the images drawn"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Rank the trained runs of a folder without labels and name the best (UDR: each run
    against the other seeds of its setting, Duan et al. 2020); writes FOLDER/selection.json."""
    import json

    from untwine.metrics.selection import format_selection
    from untwine.metrics.selection import select as rank

    result = rank(folder, by=by, num_points=points, seed=seed)
    typer.echo(json.dumps(result, indent=2) if as_json else format_selection(result), nl=as_json)


@app.command()
def check(run_dir: Path = typer.Argument(..., help="run directory")) -> None:
    """Verify a run folder: config, status, log and every checkpoint's checksums.
    Exits with status 1 when something is wrong."""
    from untwine.train.check import check as check_run

    problems, notes = check_run(run_dir)
    for note in notes:
        typer.echo(f"ok       {note}")
    for problem in problems:
        typer.echo(f"PROBLEM  {problem}")
    typer.echo(f"{run_dir}: " + (f"{len(problems)} problem(s)" if problems else "no problems"))
    if problems:
        raise typer.Exit(1)


def _int_list(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated integers (got {text!r})") from None


study_app = typer.Typer(
    no_args_is_help=True, help="Grids of methods x hyperparameters x seeds (untwine.study)."
)
app.add_typer(study_app, name="study")


@study_app.command("run")
def study_run(
    spec: Path = typer.Argument(..., help="study spec YAML (e.g. studies/beta_sweep.yaml)"),
    out: Path | None = typer.Option(None, help="study folder (default: the spec without .yaml)"),
    backend: str = typer.Option("local", help="local (worker processes) or ray"),
    workers: int | None = typer.Option(None, help="local workers (default: one per core)"),
    address: str | None = typer.Option(None, help="Ray address: auto, ray://host:port, ..."),
) -> None:
    """Run every cell of a study that is not done yet (finished cells are skipped)."""
    from untwine.study import run_study

    summary = run_study(
        spec, out, backend=backend, workers=workers, address=address, on_event=typer.echo
    )
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.states.items()))
    typer.echo(
        f"study {summary.study_dir}: {summary.skipped} already done"
        + (f", {counts}" if counts else "")
        + f" ({summary.wall_s:.1f} s)"
    )
    if not summary.complete:
        raise typer.Exit(1)


@study_app.command("status")
def study_status(study: Path = typer.Argument(..., help="study folder")) -> None:
    """Counts of done / running / failed / interrupted / pending runs, and the failures."""
    from untwine.study import status

    report = status(study)
    typer.echo("  ".join(f"{s} {n}" for s, n in report["counts"].items()))
    for run in report["runs"]:
        if run["status"] in ("failed", "running", "interrupted"):
            detail = f"  {run['error']}" if run.get("error") else ""
            step = f"step {run['step']}/{run['steps']}"
            typer.echo(f"{run['status']:<11} {run['id']}  {step}{detail}")


@study_app.command("results")
def study_results(
    study: Path = typer.Argument(..., help="study folder"),
    sort: str | None = typer.Option(None, help="column or metric to sort by (scores: best first)"),
    ascending: bool | None = typer.Option(None, "--ascending/--descending"),
    aggregate: str | None = typer.Option(None, help="median or mean over seeds"),
    fmt: str = typer.Option("table", "--format", help="table, csv or json"),
    all_runs: bool = typer.Option(False, "--all", help="include runs of earlier specs"),
) -> None:
    """One table of every run: hyperparameters, seed, status and scores."""
    from untwine.study import format_rows, results

    if aggregate not in (None, "median", "mean"):
        raise ConfigError(f"--aggregate: expected median or mean (got {aggregate!r})")
    columns, rows = results(
        study, sort=sort, ascending=ascending, aggregate=aggregate, include_all=all_runs
    )
    typer.echo(format_rows(columns, rows, fmt), nl=False)


@study_app.command("index")
def study_index(
    study: Path = typer.Argument(..., help="study folder"),
    rebuild: bool = typer.Option(False, help="rebuild index.sqlite from the run folders"),
) -> None:
    """Check the results index (rebuilt automatically when missing or corrupt)."""
    from untwine.study import rebuild_index, status

    if rebuild:
        typer.echo(f"indexed {rebuild_index(study)} runs into {study / 'index.sqlite'}")
    else:
        counts = status(study)["counts"]
        typer.echo(f"{study / 'index.sqlite'}: {sum(counts.values())} runs")


@app.command()
def datasets() -> None:
    """List the datasets: factor names and sizes, and where each reads its images from."""
    from untwine import data

    rows = data.describe()
    width = max(len(name) for name, _ in rows)
    for name, line in rows:
        typer.echo(f"{name:<{width}}  {line}")


@app.command(
    "train-prior", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def train_prior(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="a VQ run folder (vqvae, vqvae2)"),
    steps: int = typer.Option(..., help="total optimisation steps of the prior"),
    resume: bool = typer.Option(False, help="continue the prior in RUN/prior"),
    images: int | None = typer.Option(None, help="encode only this many training images"),
    threads: int | None = typer.Option(None, help="CPU threads (default: all available)"),
    quiet: bool = typer.Option(False, help="no progress bar"),
) -> None:
    """Train the PixelCNN prior over a VQ run's codes into RUN/prior (settings as --name value,
    e.g. --prior-layers 12 --lr 3e-4)."""
    from untwine.train.prior import train_prior as fit

    done = fit(
        run,
        steps,
        resume=resume,
        images=images,
        progress=not quiet,
        threads=threads,
        **_extra_settings(ctx.args),
    )
    typer.echo(f"prior trained to step {done.step}: {done.path}")


@app.command()
def sample(
    run: Path = typer.Argument(..., help="a VQ run folder with a trained prior"),
    n: int = typer.Option(64, min=1, help="number of samples"),
    seed: int = typer.Option(0),
    out: Path | None = typer.Option(None, help="PNG to write (default RUN/prior/samples.png)"),
) -> None:
    """Draw images from a VQ run's prior: codes in raster order, decoded by the VQ model."""
    from untwine.viz.samples import prior_samples

    typer.echo(str(prior_samples(run, n, seed=seed, out=out)))


@app.command()
def likelihood(
    path: Path = typer.Argument(..., help="a run directory, or a folder of runs"),
    k: int = typer.Option(5000, help="importance samples per test image"),
    json_out: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    split: str = typer.Option(
        "test", help="the dataset split to evaluate: test, train, or auto (test where it exists)"
    ),
    max_examples: int | None = typer.Option(
        None, help="evaluate a fixed random subset of N images of the split"
    ),
    batch_size: int = typer.Option(100, help="images per batch"),
    seed: int = typer.Option(0, help="seed of the importance samples"),
    precision: str = typer.Option(
        "auto",
        help="what the networks run in: fp32, bf16, or auto (bf16 where the device has "
        "bfloat16 units); densities and log-sum-exps are float32 always",
    ),
    compile: bool | None = typer.Option(
        None,
        "--compile/--no-compile",
        help="compile the decoder and log-density (torch.compile); default: when images x k "
        "is at least 2,000,000, where the seconds of compiling pay back",
    ),
    against: Path | None = typer.Option(
        None,
        help="a run estimated on the same images: add each run's log p(x) minus its, image by "
        "image, with the paired standard error",
    ),
    saved: bool = typer.Option(
        False, "--saved", help="show the estimates saved in likelihood.json; estimate nothing"
    ),
) -> None:
    """Test log p(x) (importance-sampled, nats), ELBO, L_k, bits/dim and active units."""
    import json

    from untwine import likelihood as lk

    if k < 1:
        raise ConfigError(f"--k: expected an integer >= 1 (got {k})")
    if against is not None and not (against / "config.yaml").is_file():
        raise ConfigError(f"--against {against}: expected a run directory (no config.yaml)")
    if saved:
        results = lk.saved_path(path)
    else:
        results = lk.estimate_path(
            path,
            k=k,
            split=split,
            max_examples=max_examples,
            batch_size=batch_size,
            seed=seed,
            precision=precision,
            compile=compile,
        )
    # read after estimating: the base's own estimate may be one of those just made
    baseline = None if against is None else lk.read_saved(against)
    if json_out:
        if baseline is not None:
            lk.compare_to(results, baseline)
        for r in results:
            r.pop("per_image", None)  # kept in likelihood.json
        one = (path / "config.yaml").is_file()
        typer.echo(json.dumps(results[0] if one else results, indent=2))
    else:
        typer.echo(lk.format_table(results, baseline), nl=False)


def main() -> None:
    from untwine.registry import load_plugins

    warnings.showwarning = _one_line_warning
    try:
        load_plugins()
        app()
    except UntwineError as e:
        typer.echo(f"untwine: error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("untwine: interrupted (a run continues with --resume)", err=True)
        sys.exit(130)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    typer.echo(f"untwine: warning: {message}", err=True)


if __name__ == "__main__":
    main()
