"""Structured QR of the bordered block-cyclic matrix of the lifted gain path.

The path of :mod:`validation.fplifted` solves, at every step, systems with the matrix

    M = [ I - K   jb ]        K block-cyclic: block (l, l-1) is B_l = beta D_l W_l,
        [ row^T      ]        block (1, L) is B_1 (x_0 := x_L),

of size ``n + 1`` with ``n = n_1 + ... + n_L``. A dense factorisation costs ``n^3``; this one
costs ``sum_l n_l^2 (n_{l-1} + n_L)``, linear in the depth. Eliminating every layer onto
x_L would leave ``I - J`` (``J = B_L ... B_1``), whose conditioning is the one the lifted
coordinates avoid (rho(J) up to 1e15). Orthogonal transformations of the whole of M keep
the factorisation backward stable instead, with no pivoting:

1. For l = 1 .. L-1, a Householder QR of the column block l (rows of layers l and l + 1)
   makes it upper triangular. Fill-in is confined to the *fill columns* (x_L and beta), as
   in the QR of a multiple-shooting matrix.
2. The border row, cut to its fill columns, joins layer L's rows: a square system of
   ``n_L + 1`` unknowns on the fill columns, factored by LU.
3. The rest of the border row is a rank-one change of the last row, applied by
   Sherman-Morrison (folding a dense row into the triangular blocks would fill them).

The cut matrix ``M_0`` is regular where the fill part of the border row (for the path, of
its tangent) is transversal to the kernel of ``[I - K | jb]``, so M is factored with its
border rather than by block elimination around ``I - K``, which is singular at the path's
turning points in beta.

Measured on saturated sigmoid Cauchy networks, N = 30, s = 3
(``benchmarks/bench_fixedpoints.py``, one factorisation and three solves): 0.42 times the
speed of the active-unit LU of :mod:`validation.fplifted` at L = 8 (dimension 240), 1.2
times at L = 24 (720), 5.2 times at L = 64 (1920).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg.lapack import dtrtrs

__all__ = ["CyclicQR"]


class CyclicQR:
    """Factorisation of M (module docstring) from its layer blocks.

    ``blocks[l]`` is B_{l+1} with shape (n_{l+1}, n_l) (``blocks[0]`` has n_L columns),
    ``jb`` (n,) is the beta column, ``row`` (n + 1,) the border row, ``stops`` the
    cumulative widths ``[0, n_1, n_1 + n_2, ..., n]``. :meth:`solve` returns z with M z = r.
    """

    def __init__(self, blocks, jb, row, stops):
        depth = len(blocks)
        s = stops
        self.stops, self.depth = s, depth
        n_last = s[depth] - s[depth - 1]
        # fill columns: x_L, then beta
        fill = np.hstack([-blocks[0], jb[s[0]:s[1], None]])
        if depth == 1:
            fill[:, :n_last] += np.eye(n_last)
        diag = np.eye(s[1] - s[0])
        self.q, self.r_diag, self.r_next, self.r_fill = [], [], [], []
        for j in range(depth - 1):
            nj, nn = s[j + 1] - s[j], s[j + 2] - s[j + 1]
            q, r = np.linalg.qr(np.vstack([diag, -blocks[j + 1]]), mode="complete")
            below = np.hstack([np.zeros((nn, n_last)), jb[s[j + 1]:s[j + 2], None]])
            if j + 1 == depth - 1:
                below[:, :n_last] += np.eye(nn)        # layer L's identity is a fill column
            tf = q.T @ np.vstack([fill, below])
            if j + 1 < depth - 1:
                tn = q[nj:].T                          # Q^T [0; I]: the identity of layer j + 2
                self.r_next.append(tn[:nj])
                diag = tn[nj:]
            else:
                self.r_next.append(None)
            self.q.append(q)
            self.r_diag.append(r[:nj])
            self.r_fill.append(tf[:nj])
            fill = tf[nj:]
        n = s[depth]
        tail = np.append(row[s[depth - 1]:n], row[n])
        self.last = sla.lu_factor(np.vstack([fill, tail[None]]), check_finite=False)
        # the rest of the border row, by Sherman-Morrison (step 2)
        self.delta = row.copy()
        self.delta[s[depth - 1]:] = 0.0
        e = np.zeros(n + 1)
        e[n] = 1.0
        self.u = self._solve_fill_row(e)
        self.denom = 1.0 + self.delta @ self.u

    def solve(self, r):
        """z with ``M z = r``, r of length n + 1."""
        z = self._solve_fill_row(r)
        return z - self.u * ((self.delta @ z) / self.denom)

    def _solve_fill_row(self, r):
        """z with ``M_0 z = r``: M with the border row cut to its fill columns."""
        s, depth = self.stops, self.depth
        n = s[depth]
        out = []
        carry = r[s[0]:s[1]]
        for j in range(depth - 1):
            nj = s[j + 1] - s[j]
            v = self.q[j].T @ np.concatenate([carry, r[s[j + 1]:s[j + 2]]])
            out.append(v[:nj])
            carry = v[nj:]
        y_fill = sla.lu_solve(self.last, np.append(carry, r[n]), check_finite=False)
        z = np.empty(n + 1)
        z[s[depth - 1]:] = y_fill
        y_next = None
        for j in range(depth - 2, -1, -1):
            rhs = out[j] - self.r_fill[j] @ y_fill
            if y_next is not None:
                rhs -= self.r_next[j] @ y_next
            # LAPACK directly: scipy's wrapper costs more than a 30 x 30 solve
            y_next = dtrtrs(self.r_diag[j], rhs)[0]
            z[s[j]:s[j + 1]] = y_next
        return z
