"""Sphinx configuration of scratchnet's documentation site.

Build it (offline, warnings as errors) from the repository root::

    pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build/html

and run the code blocks of the guides (and the README's first network) as tests::

    python -m sphinx -W -b doctest -D plot_gallery=0 docs docs/_build/doctest

Everything comes from installed packages: MathJax is the copy inside ``sphinx-mathjax-offline`` (served from
the built site's ``_static/mathjax``), no intersphinx mapping, no CDN. The project's own Sphinx glue (the
fast-path note on every layer page, the chapter gallery's runs and figures, the README snippets) is
``docs/_ext/scratchnet_docs.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(REPO))  # a source checkout documents itself, installed or not

# The chapters run during the build: headless, offline, one BLAS thread (small networks' thin products), and
# on the data beside the checkout when it is there (chapters/_common.py looks for ../shared/datasets).
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SCRATCHNET_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import scratchnet  # noqa: E402

project = "scratchnet"
author = "the scratchnet authors"
copyright = "the scratchnet authors, MIT licence"  # noqa: A001  (Sphinx's name)
version = release = scratchnet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "sphinx.ext.doctest",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static/mathjax: the pages never load it from a CDN
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "myst_parser",
    "scratchnet_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "chapters/results/**",  # the chapters' committed full-run files, embedded by the gallery pages
    "gallery/**/*.ipynb",
    "gallery/**/*.py",
    "gallery/**/*.md5",
    "gallery/**/*.zip",
    "gallery/**/*.json",
    "sg_execution_times.rst",  # left by builds with sphinx-gallery's timing pages on (CDN scripts)
    "gallery/sg_execution_times.rst",
]
suppress_warnings: list[str] = []
nitpicky = False

# -- API reference -----------------------------------------------------------------------------------------
autosummary_generate = True  # docs/api/generated/ is written at build time (gitignored)
autosummary_imported_members = False  # each object documented once, where it is defined
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
autodoc_preserve_defaults = True
autoclass_content = "class"  # (Layer.__new__'s docstring is about get_config, not about each layer)
viewcode_line_numbers = True

# -- chapters gallery --------------------------------------------------------------------------------------
# Every chapters/chNN_*.py (later chapters included) is a page: its docstring, its code, what it printed and
# the figures it wrote, from a --quick run made during the build (scratchnet_docs.chapter_argv gives
# ``--quick --out <folder>``; scratchnet_docs.chapter_figures collects the PNGs the chapter saved there).
sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "chapters"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"[\\/]ch\d\d_[^\\/]*\.py$",
    "ignore_pattern": r"(^|[\\/])(?!ch\d\d_)[^\\/]*\.py$",
    "within_subsection_order": "FileNameSortKey",
    "reset_argv": "scratchnet_docs.chapter_argv",
    "image_scrapers": ("scratchnet_docs.chapter_figures",),
    "reset_modules": (),
    "download_all_examples": False,
    "notebook_extensions": set(),  # a chapter runs beside chapters/_common.py: the .py is the download
    "show_signature": False,
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "capture_repr": (),
    "min_reported_time": 1,
    "write_computation_times": False,  # its pages load jQuery and DataTables from CDNs
    "line_numbers": False,
    "thumbnail_size": (400, 280),
}

# -- doctest -----------------------------------------------------------------------------------------------
doctest_global_setup = """
import os, tempfile
import numpy as np
import scratchnet as sn
_docs_cwd = os.getcwd()
_docs_tmp = tempfile.TemporaryDirectory()
os.chdir(_docs_tmp.name)  # files a guide writes (mlp.npz, ...) land in a temporary folder
"""
doctest_global_cleanup = """
os.chdir(_docs_cwd)
_docs_tmp.cleanup()
"""
doctest_test_doctest_blocks = ""  # only the explicit doctest/testcode blocks run

# -- Markdown (the README and CHANGELOG included by the guides) ----------------------------------------------
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# -- HTML --------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"scratchnet {release}"
html_static_path = ["_static"]
html_css_files = ["scratchnet.css"]
html_show_sourcelink = True
html_copy_source = True
html_last_updated_fmt = None
html_theme_options = {"navigation_with_keys": True}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
