"""``solve_seconds`` times the solve only: a fresh process's first solve excludes the
compilation (or cache loading) of the Numba kernels."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json
import esd
from esd.light.solve import solve
spec = esd.NetworkSpec("relu", weights="gaussian", sigma_w=1.4142, sigma_b=0.1, depth=6)
first = solve(spec, grid=200)[0]["solve_seconds"]
second = solve(spec, grid=200)[0]["solve_seconds"]
print(json.dumps([first, second]))
"""


def test_first_solve_in_a_fresh_process_excludes_compilation():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    first, second = json.loads(out.stdout.strip().splitlines()[-1])
    # loading ~20 kernels from Numba's cache alone takes longer than the whole warm solve
    assert first <= 3.0 * second + 0.02, (first, second)
