"""``make demo`` / ``untwine demo``: dSprites, a disentangling model, its pictures.

Renders dSprites on first use (then cached), trains for a budget that fits in ten minutes on
a 2-core laptop CPU, and writes ``traversals.png`` and ``reconstructions.png`` into the run
directory. Running it again continues the same run (or reuses it when finished).
"""

from __future__ import annotations

import time
from pathlib import Path

from untwine import data as datasets
from untwine.train import checkpoint, train
from untwine.viz import plot_reconstructions, plot_traversals

#: Settings tuned for the demo's budget on CPU (see the README's "Demo" section).
DEMO_SETTINGS = dict(method="betavae", beta=4.0, lr=5e-4, batch_size=64, steps=3000, seed=0)


def run_demo(out: str | Path = "runs/demo", **overrides) -> dict[str, Path]:
    """Run the demo end to end; returns the paths of the run and its pictures."""
    settings = {**DEMO_SETTINGS, **overrides}
    out = Path(out)
    t0 = time.perf_counter()
    print("[1/3] dSprites (rendered on first use, then cached) ...", flush=True)
    data = datasets.load("dsprites")
    print(f"      {len(data)} images ready in {time.perf_counter() - t0:.0f} s", flush=True)

    print(f"[2/3] training {settings['method']} for {settings['steps']} steps ...", flush=True)
    resume = checkpoint.latest(out) is not None
    run = train(data, out=out, resume=resume, log_every=50, checkpoint_every=500, **settings)

    print("[3/3] pictures ...", flush=True)
    paths = {
        "run": run.path,
        "traversals": plot_traversals(run, run.path / "traversals.png"),
        "reconstructions": plot_reconstructions(run, run.path / "reconstructions.png"),
    }
    print(f"\ndone in {time.perf_counter() - t0:.0f} s")
    for name, path in paths.items():
        print(f"  {name:<16} {path}")
    return paths
