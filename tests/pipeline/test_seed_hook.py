"""seed_everything never imports torch, yet a step that imports torch later gets it seeded."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
import sys, mlcd
mlcd.seed_everything(7)
assert "torch" not in sys.modules, "seeding must not import torch (seconds of start-up)"
import torch
first = torch.rand(3)
torch.manual_seed(7)
assert torch.equal(first, torch.rand(3)), "torch was not seeded on import"
assert torch.are_deterministic_algorithms_enabled()
print("ok")
"""


@pytest.mark.slow
def test_torch_is_seeded_when_the_step_imports_it() -> None:
    pytest.importorskip("torch")  # the torch extra; CI installs it
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_seeding_without_torch_imported_stays_light() -> None:
    code = "import sys, mlcd; mlcd.seed_everything(3); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
