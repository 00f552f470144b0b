"""mkdocs hooks: the command-line reference, generated from the argparse parser itself,
and the repository's figures served as part of the site.

The page ``reference/cli.md`` holds the marker ``<!-- esd-cli-reference -->``; it is
replaced by every subcommand's ``--help`` text, so the reference cannot drift from the
options the program really accepts.
"""

from __future__ import annotations

import os

MARKER = "<!-- esd-cli-reference -->"


def _help_text(parser) -> str:
    return parser.format_help().rstrip()


def cli_reference() -> str:
    os.environ["COLUMNS"] = "100"   # argparse wraps to the terminal width: fix it
    from esd.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    parts = ["## esd", "", "```text", _help_text(parser), "```", ""]
    for name, p in sub.choices.items():
        parts += [f"## esd {name}", "", "```text", _help_text(p), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "reference/cli.md" and MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown


#: Figures of the repository's ``figures/`` folder shown in the documentation; they are
#: served from where ``figures/make_figures.py`` writes them, not copied into docs/.
FIGURES = ("theory_over_simulation.png", "density_by_depth.png", "fixed_points/q_curves.png",
           "heavy/radial_law.png", "fixed_points/basins_and_spectra.png",
           "fixed_points/cauchy_kac_rice.png", "fixed_points/lifted_precision.png")


def on_files(files, config):
    from pathlib import Path

    from mkdocs.structure.files import File
    root = Path(config["config_file_path"]).parent
    for name in FIGURES:
        files.append(File.generated(config, f"figures/{name}",
                                    abs_src_path=str(root / "figures" / name)))
    return files
