"""Array namespaces for the Monte-Carlo engine: the only module that imports CuPy.

Numerical code in :mod:`validation` is written once against the array API standard
(``xp``), through array-api-compat: the NumPy and CuPy namespaces are the compat-wrapped
modules, ``array_api_strict`` is used as is (it proves the code portable). The standard
has no non-symmetric eigenvalue routine, so :func:`eigvals` is the one documented
dispatch on the namespace; everything else calls ``xp`` only.

Examples
--------
>>> xp = namespace("numpy")
>>> to_numpy(eigvals(asarray([[0.0, -1.0], [1.0, 0.0]], xp), xp))
array([0.+1.j, 0.-1.j])
"""

from __future__ import annotations

import os

import numpy as np
import array_api_compat

from esd.exceptions import BackendUnavailable, InvalidParameter

__all__ = ["BACKENDS", "namespace", "get_namespace", "is_numpy", "is_cupy", "to_numpy",
           "asarray", "eigvals", "eigvals_beside"]

BACKENDS = ("numpy", "cupy", "array_api_strict")

_CUPY_HINT = "CuPy is not installed: pip install 'esd[gpu]' on a machine with an NVIDIA GPU"


def namespace(name: str):
    """The array namespace called ``name``: "numpy", "cupy" or "array_api_strict"."""
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise InvalidParameter("backend", name, f"must be one of {list(BACKENDS)}")
    name = name.lower()
    if name == "numpy":
        import array_api_compat.numpy as xp
        return xp
    if name == "cupy":
        try:
            import cupy
        except ImportError as exc:
            raise BackendUnavailable(_CUPY_HINT) from exc
        try:
            n_devices = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver or runtime missing
            raise BackendUnavailable(f"CuPy is installed but CUDA is not usable: {exc}") from exc
        if n_devices < 1:
            raise BackendUnavailable("CuPy is installed but no CUDA device was found")
        import array_api_compat.cupy as xp
        return xp
    try:
        import array_api_strict as xp
    except ImportError as exc:
        raise BackendUnavailable("array-api-strict is not installed: pip install array-api-strict") from exc
    return xp


def get_namespace(*arrays, xp=None):
    """The namespace of ``arrays`` (``xp`` if given); Python scalars and None are ignored."""
    if xp is not None:
        return namespace(xp) if isinstance(xp, str) else xp
    arrays = [a for a in arrays if a is not None and not isinstance(a, (bool, int, float, complex))]
    if not arrays:
        return namespace("numpy")
    return array_api_compat.array_namespace(*arrays)


def is_numpy(xp) -> bool:
    """True for NumPy (bare or compat-wrapped)."""
    return array_api_compat.is_numpy_namespace(xp)


def is_cupy(xp) -> bool:
    """True for CuPy (bare or compat-wrapped)."""
    return array_api_compat.is_cupy_namespace(xp)


def to_numpy(x, xp=None) -> np.ndarray:
    """Copy ``x`` to the host as a NumPy array (CuPy through ``.get()``)."""
    if isinstance(x, np.ndarray):
        return x
    xp = get_namespace(x, xp=xp)
    if is_cupy(xp):
        return x.get()
    if is_numpy(xp):
        return np.asarray(x)
    return np.from_dlpack(x)


def asarray(x, xp):
    """``x`` (a host array, nested list or array of ``xp``) as an array of ``xp``."""
    xp = get_namespace(xp=xp)
    if is_cupy(xp) or is_numpy(xp):
        return xp.asarray(x)
    if isinstance(x, np.ndarray):
        # array_api_strict refuses some NumPy scalar types; go through a contiguous copy.
        return xp.asarray(np.ascontiguousarray(x))
    return xp.asarray(x)


def eigvals(a, xp=None):
    """Complex eigenvalues of a square matrix or a stack ``(..., N, N)`` of them.

    The array API has no non-symmetric eigenvalue routine, so this dispatches:
    ``numpy.linalg.eigvals`` for NumPy; ``cupy.linalg.eigvals`` (CuPy >= 14, cuSOLVER
    geev, not batched: looped over the stack) for CuPy, or the host when CuPy is older;
    any other namespace goes to the host and back. The result is always complex128.
    """
    xp = get_namespace(a, xp=xp)
    if is_numpy(xp):
        return np.linalg.eigvals(np.asarray(a)).astype(np.complex128, copy=False)
    if is_cupy(xp):
        import cupy
        geev = getattr(cupy.linalg, "eigvals", None)
        if geev is None:
            return cupy.asarray(np.linalg.eigvals(a.get()).astype(np.complex128, copy=False))
        if a.ndim == 2:
            return geev(a).astype(cupy.complex128, copy=False)
        flat = a.reshape((-1,) + a.shape[-2:])
        out = cupy.empty(flat.shape[:-1], dtype=cupy.complex128)
        for i in range(flat.shape[0]):
            out[i] = geev(flat[i])
        return out.reshape(a.shape[:-1])
    host = np.linalg.eigvals(to_numpy(a, xp)).astype(np.complex128, copy=False)
    return asarray(host, xp)


def eigvals_beside(a, work, xp=None):
    """``(eigvals(a), work())``, the two computed concurrently on NumPy.

    LAPACK's non-symmetric eigensolver gains little from a second BLAS thread (N = 1000 on
    2 cores: 0.19 s on two, 0.24 s on one), so on NumPy it runs on its own thread while
    ``work`` (the singular values) runs on this one, BLAS limited to half the cores each
    for the duration (process-wide: threadpoolctl). Two callers sharing one BLAS thread
    pool would queue on it, and idle OpenBLAS threads spin, so half each is what keeps
    them apart. Other namespaces (the GPU queues its own work) run the two in turn.
    """
    xp = get_namespace(a, xp=xp)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not is_numpy(xp) or (cores or 1) < 2:
        return eigvals(a, xp), work()
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, cores // 2), user_api="blas"):
        with ThreadPoolExecutor(max_workers=1) as pool:
            eigs = pool.submit(eigvals, a, xp)
            done = work()
            return eigs.result(), done
