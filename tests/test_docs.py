"""The documentation builds without a warning, and its tutorials run as written."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)


def blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in a Markdown page, in order."""
    return [body for lang, body in _FENCE.findall(text) if lang == language]


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail("mkdocs is not installed: pip install -e '.[dev]'")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "esd predict-q" in cli and "--population" in cli     # generated from the parser
    assert (tmp_path / "site" / "figures" / "theory_over_simulation.png").is_file()


def test_the_block_reader_finds_code():
    page = "text\n```python\nx = 1\n```\n\n```bash\nesd --help\n```\n```console\nslow\n```\n"
    assert blocks(page, "python") == ["x = 1\n"]
    assert blocks(page, "bash") == ["esd --help\n"]


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs_as_written(page, tmp_path):
    """Every ```python block of a tutorial, in order, in one interpreter; then every ```bash
    block with ``bash -e``, in an empty directory (```console blocks are shown, not run)."""
    text = page.read_text()
    if "esd train" in text or "import jax" in text:
        pytest.importorskip("jax")
    # one BLAS thread: on a busy two-core machine oversubscribed threads made one page 5x slower
    env = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    code = "\n".join(blocks(text, "python"))
    if code:
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                             text=True, env=env, timeout=300)
        assert out.returncode == 0, f"{page.name} python:\n{out.stderr[-3000:]}"
    script = "\n".join(blocks(text, "bash"))
    if script:
        out = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True,
                             text=True, env=env, timeout=300)
        assert out.returncode == 0, f"{page.name} bash:\n{out.stderr[-3000:]}"
