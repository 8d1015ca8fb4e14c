"""The run folder: its files, their states, and how every part of untwine reads them.

A run folder holds::

    config.yaml      the complete TrainConfig (written by the training loop)
    status.json      the training loop's state: {"state", "step", "pid", "host", "time", "error"?}
    log.jsonl        one JSON record of loss terms per ``log_every`` steps
    checkpoints/     step-00001000/ ... (untwine.train.checkpoint owns what they hold)
    metrics.json     {metric: result} written by untwine.metrics.evaluate_run
    likelihood.json  log p(x), the IWAE bounds, bits/dim ... written by untwine.likelihood
    cell.json        a study driver's record of the cell (state, settings, attempts, ...)
    .lock            locked (flock) by the one process that trains the run (:func:`owned`)

Training, studies, reports and ``untwine evaluate`` all read the folder through this
package, so they agree on what state a run is in (:func:`run_state`) and what its
hyperparameters are (:data:`NOT_HYPERPARAMETERS`). It needs neither torch nor the training
loop. Readers never fail on a missing or half-written file: a run folder may belong to a
process that died at any moment. Readers take no lock; only a training process does.

One module per job:

- :mod:`~untwine.rundir.layout`: the file names, the settings that are not
  hyperparameters, finding run folders and their checkpoints;
- :mod:`~untwine.rundir.state`: status.json, cell.json and log.jsonl, and the one rule for
  a run's state;
- :mod:`~untwine.rundir.scores`: metrics.json and likelihood.json, and their headline scores;
- :mod:`~untwine.rundir.record`: a whole folder read into a :class:`RunRecord`;
- :mod:`~untwine.rundir.lock`: the lock of the one process that trains a run.

What needs checkpoints' contents or the loop stays in :mod:`untwine.train`: choosing a
checkpoint that verifies to resume from (:func:`untwine.train.checkpoint.resume_checkpoint`),
stopping on a signal (:mod:`untwine.train.signals`) and checking a folder
(:func:`untwine.train.check.check`).
"""

from untwine.rundir.layout import (
    CELL,
    CHECKPOINTS,
    CONFIG,
    LIKELIHOOD,
    LOCK,
    LOG,
    METRICS,
    NOT_HYPERPARAMETERS,
    NOT_SCORES,
    RESUMABLE,
    RUN_MARKERS,
    STATES,
    STATUS,
    checkpoint_name,
    checkpoint_step,
    complete_checkpoints,
    find_run_dirs,
    is_run_dir,
    latest_checkpoint,
)
from untwine.rundir.lock import RunBusyError, lock_holder, owned
from untwine.rundir.record import RunRecord, flat_params, read_record, read_records
from untwine.rundir.scores import (
    LIKELIHOOD_SCORES,
    headline_scores,
    likelihood_scores,
    merge_metrics,
    metric_scalars,
    read_likelihood,
    read_metrics,
    write_likelihood,
)
from untwine.rundir.state import (
    owner_alive,
    read_cell,
    read_log,
    read_status,
    run_state,
    step,
    truncate_log,
    write_cell,
    write_status,
)

__all__ = [
    "CELL",
    "CHECKPOINTS",
    "CONFIG",
    "LIKELIHOOD",
    "LIKELIHOOD_SCORES",
    "LOCK",
    "LOG",
    "METRICS",
    "NOT_HYPERPARAMETERS",
    "NOT_SCORES",
    "RESUMABLE",
    "RUN_MARKERS",
    "STATES",
    "STATUS",
    "RunBusyError",
    "RunRecord",
    "checkpoint_name",
    "checkpoint_step",
    "complete_checkpoints",
    "find_run_dirs",
    "flat_params",
    "headline_scores",
    "is_run_dir",
    "latest_checkpoint",
    "likelihood_scores",
    "lock_holder",
    "merge_metrics",
    "metric_scalars",
    "owned",
    "owner_alive",
    "read_cell",
    "read_likelihood",
    "read_log",
    "read_metrics",
    "read_record",
    "read_records",
    "read_status",
    "run_state",
    "step",
    "truncate_log",
    "write_cell",
    "write_likelihood",
    "write_status",
]
