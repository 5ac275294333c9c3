"""bench.memory's figure is its child's own peak, whatever the process that started it holds."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def child_peak_gb() -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", "from bench.memory import peak_gb; print(peak_gb())"],
                          capture_output=True, text=True, env=env, check=True)
    return float(done.stdout)


@pytest.mark.slow
def test_a_parent_holding_3_gb_does_not_change_the_childs_peak():
    alone = child_peak_gb()
    held = np.ones(3 * 2**30 // 8)  # 3 GB, every page touched
    try:
        beside = child_peak_gb()
    finally:
        del held
    assert alone < 0.5 and beside < 0.5, (alone, beside)
    assert abs(beside - alone) < 0.1
