"""Refactors keep the numbers: 50 training steps give the weights recorded before them.

``reference_weights.json`` holds, per machine fingerprint (torch version, the CPU capability
torch dispatches to, one thread), a SHA-256 of every model weight after 50 steps of beta-VAE,
beta-TCVAE and FactorVAE on the test squares. Floating-point results differ between CPU
instruction sets, so a machine whose fingerprint is not recorded skips with that reason; the
resume tests hold the bit-exactness that does not depend on the machine.

Regenerate (only on purpose, and say why in the commit):
``python tests/train/test_reference_weights.py --write``
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pytest
import torch

import untwine

REFERENCE = Path(__file__).with_name("reference_weights.json")
METHODS = {
    "betavae": {"beta": 4.0},
    "betatcvae": {"beta": 6.0},
    "factorvae": {"gamma": 35.0},
}
# the digests were recorded in float32: a machine with bf16 units would otherwise resolve
# "auto" to bf16
SETTINGS = dict(
    batch_size=8, seed=0, steps=50, lr=1e-3, threads=1, progress=False, precision="fp32"
)


def fingerprint() -> str:
    return f"torch {torch.__version__} | cpu {torch.backends.cpu.get_cpu_capability()} | 1 thread"


def weights_digest(method: str, out: Path) -> str:
    run = untwine.train(
        "test-squares", method=method, **METHODS[method], **SETTINGS, out=out / method
    )
    digest = hashlib.sha256()
    for name, tensor in sorted(run.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_weights_match_the_reference(method, tmp_path):
    recorded = json.loads(REFERENCE.read_text()).get(fingerprint())
    if recorded is None:
        pytest.skip(f"no reference weights recorded for this machine ({fingerprint()})")
    assert weights_digest(method, tmp_path) == recorded[method]


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    import squares_plugin  # noqa: F401  (registers test-squares)

    table = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        table[fingerprint()] = {m: weights_digest(m, Path(tmp)) for m in sorted(METHODS)}
    REFERENCE.write_text(json.dumps(table, indent=2) + "\n")
    print(fingerprint(), table[fingerprint()])
