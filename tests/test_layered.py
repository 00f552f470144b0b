"""Networks whose layers differ in width (autoencoders): drawing, the map, its Jacobian,
and the fixed-point finder on them."""

import numpy as np
import pytest
from scipy.optimize import brentq

import esd
from esd.exceptions import InvalidParameter
from validation.basins import iterate_map, jacobians
from validation.fixedpoints import find_fixed_points, iterate_flops, lipschitz_bound
from validation.networks import LayeredNetwork
from validation.sampling import sample_layered, sample_network


@pytest.mark.parametrize("law", ["gaussian", "orthogonal", "cauchy", "stable"])
def test_equal_widths_draw_exactly_the_square_network(law):
    alpha = 1.5 if law == "stable" else None
    a = sample_layered("tanh", law, 1.3, 0.2, [6, 6, 6], alpha=alpha, rng=11)
    b = sample_network("tanh", law, 1.3, 0.2, 2, 6, alpha=alpha, rng=11)
    assert np.array_equal(np.stack(a.W), b.W) and np.array_equal(np.stack(a.b), b.b)
    assert np.array_equal(a.to_network().W, b.W)


def test_rectangular_laws_are_normalised_by_the_fan_in():
    net = sample_layered("linear", "gaussian", 2.0, 0.0, [400, 100, 400], rng=0)
    # Var W_ij = sigma_w^2 / n_in for both layers.
    assert np.var(net.W[0]) * 400 == pytest.approx(4.0, rel=0.02)
    assert np.var(net.W[1]) * 100 == pytest.approx(4.0, rel=0.02)
    orth = sample_layered("tanh", "orthogonal", 1.5, 0.0, [8, 3, 8], rng=0)
    assert np.allclose(orth.W[0] @ orth.W[0].T, 2.25 * np.eye(3))
    assert np.allclose(orth.W[1].T @ orth.W[1], 2.25 * np.eye(3))


@pytest.mark.parametrize("widths, match", [([4, 3], "square"), ([4], "widths"), ([4, 0, 4], "widths")])
def test_bad_widths_are_named(widths, match):
    with pytest.raises(InvalidParameter, match=match):
        sample_layered("tanh", "gaussian", 1.0, 0.0, widths, rng=0)


def test_inconsistent_layers_are_refused():
    with pytest.raises(InvalidParameter, match="layer 2"):
        LayeredNetwork(W=(np.ones((3, 4)), np.ones((4, 2))), b=(np.zeros(3), np.zeros(4)),
                       activation=esd.get_activation("tanh"))


def test_jacobian_matches_finite_differences():
    net = sample_layered("tanh", "gaussian", 1.5, 0.3, [5, 3, 7, 5], rng=2)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 5))
    j = jacobians(net, x)
    h = 1e-6
    for i in range(5):
        e = np.zeros(5)
        e[i] = h
        fd = (iterate_map(net, x + e, max_iter=1)[0] - iterate_map(net, x - e, max_iter=1)[0]) / (2 * h)
        assert np.allclose(j[:, :, i], fd, atol=1e-8)
    assert iterate_flops(net, 10) == 2 * 10 * (5 * 3 + 3 * 7 + 7 * 5)


def test_iterate_map_stops_rows_at_the_tolerance():
    net = sample_layered("sigmoid", "gaussian", 1.0, 0.5, [6, 2, 6], rng=1)
    assert lipschitz_bound(net) < 1
    x, conv, steps = iterate_map(net, np.random.default_rng(1).random((10, 6)), tol=1e-12)
    assert conv.all() and np.all(steps < 1000)
    assert np.max(np.abs(iterate_map(net, x, max_iter=1)[0] - x)) <= 1e-12


def test_finder_on_an_autoencoder_with_known_fixed_points():
    """F(x) = (tanh(2 tanh(2 x_1)), 0) through one bottleneck unit: fixed points (0, 0)
    (unstable, slope 4) and (+-t*, 0) with t* = tanh(2 tanh(2 t*)), both stable."""
    act = esd.get_activation("tanh")
    net = LayeredNetwork(W=(np.array([[2.0, 0.0]]), np.array([[2.0], [0.0]])),
                         b=(np.zeros(1), np.zeros(2)), activation=act)
    t_star = brentq(lambda t: np.tanh(2 * np.tanh(2 * t)) - t, 0.1, 1.0)
    res = find_fixed_points(net, starts=200, rng=0)
    assert res.q_all == 3 and res.q_stable == 2 and res.index_sum == 1
    pts = res.points[np.argsort(res.points[:, 0])]
    assert np.allclose(pts, [[-t_star, 0], [0, 0], [t_star, 0]], atol=1e-10)
    assert np.isclose(res.basin_share.sum(), 1.0)
