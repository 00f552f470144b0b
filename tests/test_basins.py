"""Basin labels and spectra at fixed points, on exact oracles (docs/theory/fixed-points.md)."""

import numpy as np
import pytest

import esd
from esd.exceptions import InvalidParameter
from validation.basins import basin_labels, jacobian_eigenvalues
from validation.fixedpoints import find_fixed_points
from validation.networks import Network


def _tanh_map(a, d):
    return Network(W=np.asarray(a) * np.eye(d)[None], b=np.zeros((1, d)),
                   activation=esd.get_activation("tanh"))


def test_basins_of_coordinatewise_tanh_are_the_orthants():
    net = _tanh_map(2.0, 2)
    res = find_fixed_points(net, starts=200, rng=0)
    g = np.linspace(-0.95, 0.95, 20)
    starts = np.array([(u, v) for u in g for v in g])
    labels = basin_labels(net, res, starts)
    assert np.all(labels >= 0)
    signs = np.sign(res.points[labels])
    np.testing.assert_array_equal(signs, np.sign(starts))
    assert np.all(res.stable[labels])


def test_two_cycles_get_their_own_label():
    net = _tanh_map(-2.0, 1)
    res = find_fixed_points(net, starts=50, rng=0)
    labels = basin_labels(net, res, np.array([[0.5], [-0.3]]))
    assert res.q_all == 1 and len(res.periods) == 1
    assert np.all(labels == 1)


def test_eigenvalues_at_fixed_points_match_the_stability():
    net = Network(
        W=np.diag([2.0, 3.0])[None], b=np.zeros((1, 2)), activation=esd.get_activation("tanh"))
    res = find_fixed_points(net, starts=200, rng=1)
    eigs = jacobian_eigenvalues(net, res)
    assert len(eigs) == 9
    for e, rho, stable in zip(eigs, res.spectral_radius, res.stable):
        assert np.max(np.abs(e)) == pytest.approx(rho, rel=1e-10)
        assert (np.max(np.abs(e)) < 1) == stable


def test_bad_input():
    net = _tanh_map(2.0, 2)
    res = find_fixed_points(net, starts=20, rng=0)
    with pytest.raises(InvalidParameter, match="starts"):
        basin_labels(net, res, np.zeros((3, 5)))
    with pytest.raises(InvalidParameter, match="result"):
        basin_labels(net, "nope", np.zeros((3, 2)))
