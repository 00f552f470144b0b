"""One gain-homotopy zero curve followed from a fixed point (validation.fpgain.track)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from esd.activations import get_activation
from validation.fpgain import track
from validation.fplifted import _Lifted, _newton
from validation.networks import Network

XS = brentq(lambda x: math.tanh(1.5 * x) - x, 1e-3, 1.0)
#: tanh(1.5 x) coordinate-wise in d = 2: its 3^2 fixed points in closed form
ORACLE = np.array([(a, b) for a in (-XS, 0.0, XS) for b in (-XS, 0.0, XS)])
SYS = _Lifted(Network(W=(1.5 * np.eye(2))[None], b=np.zeros((1, 2)), activation=get_activation("tanh"),
                      tied=False))


def _index(X):
    return int(np.sign(np.linalg.det(SYS.jacobian(X, 1.0, SYS.zero)[0])))


def _curve(k, d):
    """The oracle points on the curve of offset d through point k, and the ends met."""
    on, ends = {k}, []

    def on_cross(c):
        X, conv = _newton(SYS, c, 1e-13)
        assert conv
        dist = np.max(np.abs(ORACLE - X), axis=1)
        assert dist.min() < 1e-12                     # every crossing is a fixed point
        on.add(int(np.argmin(dist)))
        return int(np.argmin(dist)) == k

    for direction in (1.0, -1.0):
        _, steps, end = track(SYS, d, 3000, start=ORACLE[k], direction=direction, on_cross=on_cross)
        assert 0 < steps < 3000
        ends.append(end)
        if end == "stopped":
            break
    return on, ends


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_curves_through_the_points_partition_them_with_the_index_sums_of_the_theory(seed):
    """For one offset d, the curve through each of the 9 points, followed both ways, is the
    curve from beta = 0 (one end below beta = 0: index sum 1), or one with both ends at
    beta = T_MAX or closed (index sum 0). Each point lies on exactly one curve, so the
    curves partition the 9 points, and the one from beta = 0 is unique."""
    d = np.random.default_rng(seed).standard_normal(2)
    curves, from_zero = {}, []
    for k in range(9):
        on, ends = _curve(k, d)
        total = sum(_index(ORACLE[j]) for j in on)
        if "beta<0" in ends:
            from_zero.append(k)
            assert total == 1
        else:
            assert total == 0 and set(ends) <= {"beta>T_MAX", "stopped"}
        curves[k] = frozenset(on)
    assert from_zero and curves[from_zero[0]] == set(from_zero)
    for k, on in curves.items():                       # the same curve from each of its points
        assert all(curves[j] == on for j in on)


def test_a_path_from_beta_zero_is_unchanged_by_the_new_start_options():
    """start=None is the curve from (phi(d), 0): it leaves through beta = T_MAX with an odd
    number of crossings, and on_cross sees each of them."""
    d = np.random.default_rng(4).standard_normal(2)
    seen = []
    cands, _, end = track(SYS, d, 3000, on_cross=lambda c: seen.append(c) and False)
    assert end == "beta>T_MAX" and len(cands) % 2 == 1 and len(seen) == len(cands)
