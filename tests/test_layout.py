"""The package's architecture, checked: the public API, the import graph, module sizes,
the version, and that nothing in the repository points at a path outside it."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import esd
import validation

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("esd", "validation", "training")

#: The names ``import esd`` gives; removing or renaming one is a breaking change.
ESD_API = {
    "Activation", "custom_activation", "get_activation",
    "BackendUnavailable", "ConvergenceError", "EsdError", "InvalidParameter",
    "NetworkSpec", "JacobianESD", "MeanField", "mean_field", "q_star",
    "HeavyTailedJacobian", "CavityResult", "LogSpectrumMoments", "log_spectrum_moments",
    "QPrediction", "predict_q", "predict_q_heavy", "__version__",
}
VALIDATION_API = {
    "simulate", "Simulation", "compare", "compare_heavy", "sample_network", "sample_layered",
    "load_network", "stationary_inputs", "Network", "LayeredNetwork", "jacobian",
    "jacobian_spectra", "forward", "find_fixed_points", "FixedPointResult", "q_statistics",
    "run_sweep", "SweepResult", "make_grid", "kac_rice", "KacRiceEstimate", "namespace",
}
#: Largest module, in lines: modules are split along their seams well before this.
MAX_LINES = 450


def _modules(package):
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path):
    """Every module named by an import statement of ``path`` (at any depth of the code)."""
    tree = ast.parse(path.read_text())
    here = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: -node.level]
                names.add(".".join(base + ([node.module] if node.module else [])))
            else:
                names.add(node.module)
    return names


@pytest.mark.parametrize("module, names", [(esd, ESD_API), (validation, VALIDATION_API)])
def test_public_api_is_exported(module, names):
    missing = names - set(module.__all__)
    assert not missing, f"{module.__name__}.__all__ lacks {sorted(missing)}"
    for name in module.__all__:
        assert hasattr(module, name), f"{module.__name__}.{name} is listed but missing"


def test_subpackages_show_the_architecture():
    for sub in ("light", "heavy", "qtheory", "plots", "cli"):
        assert importlib.import_module(f"esd.{sub}").__doc__


def test_theory_never_imports_the_simulation_side():
    offenders = []
    for path in _modules("esd"):
        if path.relative_to(ROOT).parts[1] == "cli":
            continue
        for name in _imports(path):
            if name.split(".")[0] in ("validation", "training"):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders


def test_light_and_heavy_theories_are_independent():
    for side, other in (("light", "heavy"), ("heavy", "light")):
        for path in _modules(f"esd/{side}"):
            bad = [n for n in _imports(path)
                   if n.startswith((f"esd.{other}", "esd.qtheory", "esd.cli", "esd.plots"))]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_import_check_can_fail(tmp_path):
    """The parser sees imports inside functions too (the CLI imports lazily)."""
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from validation.sampling import sample_network\n")
    names = {n for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.ImportFrom)}
    assert {n.module for n in names} == {"validation.sampling"}


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_stay_small(package):
    big = {str(p.relative_to(ROOT)): n for p in _modules(package)
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_version_is_one_value_everywhere():
    from importlib.metadata import version
    assert version("esd") == esd.__version__
    out = subprocess.run([sys.executable, "-m", "esd", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == f"esd {esd.__version__}"
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version: {re.escape(esd.__version__)}$", cff, re.M)


# --- nothing refers to a path outside the repository ------------------------------------
_SKIP_DIRS = {".git", ".venv", "venv", "site", "build", "dist", "__pycache__", ".pytest_cache",
              ".hypothesis", "node_modules", ".ruff_cache"}
_TEXT = {".py", ".md", ".toml", ".yml", ".yaml", ".cff", ".txt", ".cfg", ".ini", ".json", ".js",
         ""}
#: Names of files that exist only beside the repository, and absolute paths of one machine.
_OUTSIDE = re.compile(r"THEORY\.md|STYLE\.md|\.\./shared\b|\.\./\.library|/work/|/home/\w|"
                      r"/Users/\w|[A-Z]:\\\\Users")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _text_files():
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in _SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in _TEXT and path.stat().st_size < 2_000_000:
            yield path


def outside_references(path: Path, text: str) -> list[str]:
    """Mentions of files outside the repository, and relative links that leave it."""
    found = [m.group(0) for m in _OUTSIDE.finditer(text)]
    for target in _LINK.findall(text):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        if ROOT not in resolved.parents and resolved != ROOT:
            found.append(target)
    return found


def test_no_file_refers_to_a_path_outside_the_repository():
    this = Path(__file__).resolve()
    bad = {}
    for path in _text_files():
        if path.resolve() == this:      # the patterns themselves
            continue
        hits = outside_references(path, path.read_text(errors="replace"))
        if hits:
            bad[str(path.relative_to(ROOT))] = sorted(set(hits))[:5]
    assert not bad, bad


def test_the_outside_reference_check_can_fail(tmp_path):
    doc = ROOT / "docs" / "x.md"
    assert outside_references(doc, "see ../shared/THEORY.md §3")
    assert outside_references(doc, "[notes](../../elsewhere/notes.md)")
    assert not outside_references(doc, "[model](theory/model.md) and [web](https://x.org/a)")
