"""The pole-corrected trapezoid for M_d(w) = E[d/(w - d)] against mpmath, near the support."""

import math

import numpy as np
import pytest

from esd import get_activation
from esd.light import _slope_kernels as K
from esd.light.transforms import to_freealg_sign
from reference import mp_M_slope


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "erf"])
@pytest.mark.parametrize("q", [0.05, 1.0, 10.0, 200.0])
def test_M_slope_matches_mpmath_near_the_support(name, q):
    law = get_activation(name).slope_law(q)
    # w inside, at and around the support [0, d_max] of the slope law, some very close to it.
    w = law.d_max * np.array([2 + 0.5j, 1.0 + 0.01j, 0.5 + 0.1j, 0.1 + 0.01j, 0.01 + 0.001j,
                              -0.1 + 0.001j, 0.3 + 1e-6j, 1.02 + 1e-9j])
    M, _ = K.slope_M_batch(w, law.atoms, law.weights, law.ncore, law.hz, math.sqrt(q),
                           law.pole_code, *law.pole_params)
    ref = np.array([complex(mp_M_slope(name, q, complex(v))) for v in w])
    np.testing.assert_allclose(M, ref, rtol=1e-12)


def test_freealg_sign():
    assert to_freealg_sign(np.array([1 - 2j]))[0] == -1 + 2j
