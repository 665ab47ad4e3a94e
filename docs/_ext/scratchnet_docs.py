"""scratchnet's own Sphinx glue, all of it in one file.

* **Fast-path notes**: every layer's API page ends with which fast path runs by default, read from
  ``scratchnet.backend.FAST_PATHS`` (so the page cannot drift from the code), each linked to its API page and,
  through ``sphinx.ext.viewcode``, to its source. ``.. fast-paths::`` prints the whole table.
* **Public names**: ``.. public-names:: scratchnet.layers`` tables what a package re-exports, linked to where
  each object is defined (and documents those defined in private modules right there).
* **README snippets**: ``.. readme-testcode:: A first network`` is the README's first ```python block under
  that heading, shown and run by ``sphinx.ext.doctest`` (so the README cannot drift from the API).
* **Chapters gallery**: ``chapter_argv`` runs each chapter with ``--quick --out <folder>`` (sphinx-gallery's
  ``reset_argv``); ``chapter_figures`` (an image scraper) collects the PNGs the chapter saved there, since the
  chapters draw on standalone matplotlib ``Figure`` objects that pyplot, and so the default scraper, never
  sees. After sphinx-gallery writes the pages, each gets a note that it shows a quick run and a "full run"
  section with the committed table and figures from ``docs/chapters/results/<chapter>/``.
* **Included Markdown**: links between README.md and CHANGELOG.md point at the guides that include them.
"""

from __future__ import annotations

import inspect
import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.ext.doctest import TestcodeDirective, TestoutputDirective
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parents[1]
REPO = DOCS.parent
CHAPTERS = REPO / "chapters"
RESULTS = DOCS / "chapters" / "results"
QUICK_OUT = Path("out") / "docs"  # relative to chapters/, where sphinx-gallery runs them
FULL_RUN_ENV = "OPENBLAS_NUM_THREADS=1 SCRATCHNET_DATA=../shared/datasets"
MARK = ".. scratchnet-docs:"  # the comment that opens a gallery page this extension has laid out

logger = logging.getLogger(__name__)


# -- fast paths --------------------------------------------------------------------------------------------
def _fast_path_entries(cls: type) -> list[tuple[str, str, str]]:
    """(method, fast path 'module:function', class that lists it) for each method of ``cls`` that
    ``backend.FAST_PATHS`` replaces, looked up in MRO order as ``backend.fast_path`` does."""
    from scratchnet import backend

    methods = list(dict.fromkeys(key.rsplit(".", 1)[1] for key in backend.FAST_PATHS))
    found = []
    for method in methods:
        if not hasattr(cls, method):
            continue
        for c in cls.__mro__:
            key = f"{c.__module__}.{c.__qualname__}.{method}"
            if key in backend.FAST_PATHS:
                found.append((method, backend.FAST_PATHS[key], c.__qualname__))
                break
            if method in c.__dict__:
                break
    return found


def _kernels_used(cls: type) -> list[str]:
    """The compiled kernels (``backend.kernel("NAME")``) that the code of ``cls`` and its scratchnet bases
    calls."""
    names: set[str] = set()
    for c in cls.__mro__:
        if not c.__module__.startswith("scratchnet"):
            continue
        try:
            source = inspect.getsource(c)
        except (OSError, TypeError):
            continue
        names.update(re.findall(r"backend\.kernel\(\s*[\"'](\w+)[\"']", source))
    return sorted(names)


def _fast_function(target: str) -> str:
    module, name = target.split(":")
    return f":func:`{module}.{name}`"


def fast_path_note(cls: type) -> list[str]:
    """The reST paragraph a class's API page ends with: which fast path runs by default."""
    from scratchnet import backend
    from scratchnet.layers.base import Layer

    entries = _fast_path_entries(cls)
    if not entries and (cls is Layer or not (isinstance(cls, type) and issubclass(cls, Layer))):
        return []
    lines = ["", ".. rubric:: Fast path (run by default)", ""]
    if entries:
        lines += [
            f"``{cls.__name__}(x)`` and ``.backprop(dout)`` run these by default (``Layer.dispatch``, "
            "from :ref:`backend.FAST_PATHS <fast-path-table>`); reference mode runs the methods below instead:",
            "",
        ]
        for method, target, owner in entries:
            inherited = "" if owner == cls.__qualname__ else f" (inherited from ``{owner}``)"
            lines.append(f"* ``{method}`` → {_fast_function(target)}{inherited}")
    else:
        lines += [
            f"None: :ref:`backend.FAST_PATHS <fast-path-table>` lists no method of ``{cls.__name__}``, so its "
            "own code runs on both tiers.",
        ]
    for name in _kernels_used(cls):
        twin = backend.TWINS.get(name)
        twin_text = f"its NumPy twin :mod:`{twin}`" if twin else "its NumPy twin"
        lines += [
            "",
            f'Its loops call ``backend.kernel("{name}")``: by default the compiled kernel '
            f"``scratchnet._kernels.LEVEL.{name}`` (``pyx/{name}.pyx``), {twin_text} in reference mode or where the "
            "kernels are not built.",
        ]
    return lines + [""]


def layer_signature(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    """A layer's signature is its ``__init__``'s: ``Layer.__new__(cls, *args, **kwargs)`` (which records the
    arguments for ``get_config``) would otherwise stand in for every layer's constructor."""
    if what != "class" or not isinstance(obj, type) or not (signature or "").startswith("(*args"):
        return None
    if "__init__" not in {k for c in obj.__mro__[:-1] for k in vars(c)}:
        return None
    from sphinx.util.inspect import signature as sphinx_signature
    from sphinx.util.inspect import stringify_signature

    try:
        if app.config.autodoc_preserve_defaults:  # the defaults as written in the source (np.float32, ...)
            from sphinx.ext.autodoc.preserve_defaults import update_defvalue

            update_defvalue(app, obj.__init__, False)
        sig = sphinx_signature(obj.__init__, bound_method=True, type_aliases=app.config.autodoc_type_aliases)
    except (TypeError, ValueError):
        return None
    return stringify_signature(sig, show_return_annotation=False), return_annotation


def add_fast_path_note(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what == "class" and isinstance(obj, type) and obj.__module__.startswith("scratchnet"):
        lines.extend(fast_path_note(obj))


class FastPathsDirective(SphinxDirective):
    """``.. fast-paths::``: the tables of ``backend.FAST_PATHS`` and ``backend.TWINS``."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from scratchnet import backend

        rst = [
            ".. list-table:: ``backend.FAST_PATHS``: the layer methods tier 2 replaces",
            "   :header-rows: 1",
            "   :widths: 45 55",
            "",
            "   * - tier 1 (the reference, the layer's own method)",
            "     - tier 2 (the fast path, run by default)",
        ]
        for key, target in backend.FAST_PATHS.items():
            module, name = target.split(":")
            rst += [f"   * - :meth:`{key}`", f"     - :func:`{module}.{name}`"]
        rst += [
            "",
            ".. list-table:: ``backend.TWINS``: each compiled kernel and the NumPy twin it must equal",
            "   :header-rows: 1",
            "   :widths: 45 55",
            "",
            "   * - compiled kernel (``pyx/``)",
            "     - NumPy twin (reference mode, or no compiler)",
        ]
        for name, twin in backend.TWINS.items():
            rst += [f"   * - ``scratchnet._kernels.LEVEL.{name}`` (``pyx/{name}.pyx``)", f"     - :mod:`{twin}`"]
        return self._parse(rst)

    def _parse(self, rst: list[str]) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(StringList(rst, source="<fast-paths>"), self.content_offset, container)
        return container.children


class DatasetRegistryDirective(FastPathsDirective):
    """``.. dataset-registry::``: every file of ``scratchnet.datasets.REGISTRY``, its sources and checksums."""

    def run(self) -> list[nodes.Node]:
        from scratchnet.datasets import REGISTRY

        rst = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 22 26 22 30",
            "",
            "   * - file (under the data folder)",
            "     - contents",
            "     - downloaded from",
            "     - checksums (of the download; payload: of the decompressed content)",
        ]
        for name, entry in sorted(REGISTRY.items()):
            hosts = ", ".join(f"``{url.split('/')[2]}``" for url in entry.urls) or "(not downloadable)"
            sums = [f"``{h}``" for h in entry.hashes] + [f"payload ``{h}``" for h in entry.payload_hashes]
            rst += [
                f"   * - ``{name}``",
                f"     - {entry.description}",
                f"     - {hosts}",
                f"     - {'; '.join(sums) or '(none: never accepted)'}",
            ]
        return self._parse(rst)


class PublicNamesDirective(SphinxDirective):
    """``.. public-names:: package``: what ``package.__all__`` re-exports from its submodules, as a table
    linked to each object's own page; objects defined in a private module are documented here instead."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        import importlib

        package = self.arguments[0]
        module = importlib.import_module(package)
        rows, here = [], []
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name, None)
            home = getattr(obj, "__module__", None)
            if obj is None or inspect.ismodule(obj) or home is None or home == package:
                continue
            if any(part.startswith("_") for part in home.split(".")):
                here.append((name, obj))
            else:  # autosummary wants names relative to the page's module
                relative = home[len(package) + 1 :] if home.startswith(package + ".") else home
                rows.append(f"   ~{relative}.{obj.__qualname__}")
        rst: list[str] = []
        if rows:
            rst += [
                ".. rubric:: Public names",
                "",
                f"What ``{package}`` exports, each where it is defined:",
                "",
            ]
            rst += [".. autosummary::", "", *rows, ""]
        for name, obj in here:
            kind = "autoclass" if inspect.isclass(obj) else "autofunction"
            rst += [f".. {kind}:: {package}.{name}", ""]
        if not rst:
            return []
        container = nodes.container()
        self.state.nested_parse(
            StringList(rst, source=f"<public-names {package}>"), self.content_offset, container
        )
        return container.children


# -- README snippets -----------------------------------------------------------------------------------------
def readme_block(heading: str, readme: Path = REPO / "README.md") -> str:
    """The first ```python block after the Markdown heading ``heading`` of the README."""
    text = readme.read_text(encoding="utf-8")
    match = re.search(rf"^#+ {re.escape(heading)}\s*$(.*?)^```python\n(.*?)^```", text, re.M | re.S)
    if match is None:
        raise ValueError(f"README.md has no ```python block under a heading {heading!r}")
    return match.group(2)


class ReadmeTestcode(TestcodeDirective):
    """``.. readme-testcode:: HEADING``: the README's code under HEADING as a ``testcode`` block."""

    required_arguments = 1
    optional_arguments = 0
    final_argument_whitespace = True
    has_content = False
    option_spec = {"hide": directives.flag}

    def run(self) -> list[nodes.Node]:
        heading = self.arguments[0]
        code = readme_block(heading)
        self.env.note_dependency(str(REPO / "README.md"))
        self.content = StringList(code.splitlines(), source=str(REPO / "README.md"))
        self.arguments = []
        self.name = "testcode"  # sphinx.ext.doctest files the block by its directive's name
        shown = super().run()
        # what the README's code prints (a summary, one line per epoch with its time) is not compared
        output = TestoutputDirective(
            "testoutput",
            [],
            {"hide": True, "options": "+ELLIPSIS"},
            StringList(["..."]),
            self.lineno,
            self.content_offset,
            self.block_text,
            self.state,
            self.state_machine,
        )
        return shown + output.run()


# -- chapters gallery --------------------------------------------------------------------------------------
def _chapter(script_vars_or_path: Any) -> str:
    path = script_vars_or_path["src_file"] if isinstance(script_vars_or_path, dict) else script_vars_or_path
    return Path(path).stem


def chapter_argv(gallery_conf: dict, script_vars: dict) -> list[str]:
    """sphinx-gallery's ``reset_argv``: each chapter runs with ``--quick`` into a fresh output folder."""
    out = QUICK_OUT / _chapter(script_vars)
    folder = CHAPTERS / out
    if folder.exists():
        shutil.rmtree(folder)
    return ["--quick", "--out", str(out)]


_scraped: dict[str, set[str]] = {}


def chapter_figures(block: Any, block_vars: dict, gallery_conf: dict, **kwargs: Any) -> str:
    """sphinx-gallery image scraper: the PNGs the chapter has written to its ``--out`` folder since the last
    block, in the order it wrote them, copied to the gallery's image files."""
    from sphinx_gallery.scrapers import figure_rst

    chapter = _chapter(block_vars["src_file"])
    folder = CHAPTERS / QUICK_OUT / chapter
    seen = _scraped.setdefault(chapter, set())
    if not folder.is_dir():
        return ""
    new = [p for p in folder.glob("*.png") if p.name not in seen]
    new.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    images = []
    for png, target in zip(new, block_vars["image_path_iterator"]):
        shutil.copyfile(png, target)
        seen.add(png.name)
        images.append(target)
    if not images:
        return ""
    return figure_rst(images, gallery_conf["src_dir"], fig_titles="")


def _full_run_rst(chapter: str) -> list[str]:
    folder = RESULTS / chapter
    results = folder / "results.md"
    command = f"{FULL_RUN_ENV} python chapters/{chapter}.py"
    lines = [f".. _full-run-{chapter}:", "", "The full run", "-" * 12, ""]
    if not results.is_file():
        return lines + [
            "The full run's table is not committed yet. It comes from",
            "",
            ".. code-block:: bash",
            "",
            f"   {command}",
            "",
            f"(see ``--help`` for the chapter's options), which writes ``chapters/out/{chapter}/results.md`` "
            f"and the figures; copied into ``docs/chapters/results/{chapter}/``, they appear here. The README's "
            "chapter table gives the full run's figures and how long it takes.",
            "",
        ]
    text = results.read_text(encoding="utf-8")
    cmd = re.search(r"^command: `(.*)`", text, re.M)
    wall = re.search(r"^wall time: (.*)$", text, re.M)
    recorded = cmd.group(1) if cmd else f"python chapters/{chapter}.py"
    lines += [
        "The table and figures below are the chapter's full run (not the quick run above), committed with the "
        f"documentation in ``docs/chapters/results/{chapter}/``. The command that produced them:",
        "",
        ".. code-block:: bash",
        "",
        f"   {FULL_RUN_ENV} {recorded}",
        "",
        f"Wall time {wall.group(1).strip() if wall else 'not recorded'}, on the project's 2-core machine.",
        "",
        f".. literalinclude:: /chapters/results/{chapter}/results.md",
        "   :language: text",
        "   :start-after: ```",
        "   :end-before: ```",
        "",
    ]
    for png in sorted(folder.glob("*.png")):
        lines += [
            f".. figure:: /chapters/results/{chapter}/{png.name}",
            f"   :alt: {png.stem.replace('_', ' ')} (full run)",
            "",
            f"   ``{png.name}``, from the full run",
            "",
        ]
    return lines


def _quick_note(chapter: str) -> list[str]:
    return [
        ".. note::",
        "",
        "   This page ran the chapter in **quick mode** while the documentation was built "
        f"(``python chapters/{chapter}.py --quick``: seconds, on a few hundred examples or steps), so the "
        "output and figures under the code are the quick run's, not results to compare with the course. "
        f"The full run's table and figures are at :ref:`the end of the page <full-run-{chapter}>`.",
        "",
    ]


def _section(title: str) -> list[str]:
    return [title, "-" * len(title), ""]


def _decorated(text: str, chapter: str, gallery: str) -> str:
    """sphinx-gallery's page for a one-block script shows the output, then the code. Here: the story, the
    quick-run note, the code, what the quick run printed and drew, then the full run."""
    label = text.find(f".. _sphx_glr_{gallery}_{chapter}.py:")
    generated = text.find(".. GENERATED FROM PYTHON SOURCE LINES", label)
    code = text.find("\n.. code-block:: Python\n", generated)
    download = text.find(f".. _sphx_glr_download_{gallery}_{chapter}.py:", code)
    if min(label, generated, code, download) < 0:
        raise ValueError("not the layout of a sphinx-gallery page for a one-block script")
    after_marker = text.index("\n", generated) + 1
    timing = text.find("**Total running time of the script:**", code, download)
    code_end = timing if timing >= 0 else download
    output = text[after_marker:code].rstrip()
    if output.endswith("|"):  # the spacer sphinx-gallery puts between output and code
        output = output[:-1].rstrip()
    quick = [
        *_section("The quick run"),
        f"What ``python chapters/{chapter}.py --quick`` printed and the figures it saved, when this page was "
        "built:",
        "",
    ]
    return "".join(
        [
            text[:after_marker],
            "\n",
            "\n".join(_quick_note(chapter)),
            "\n",
            "\n".join(_section("The code")),
            text[code:code_end].rstrip() + "\n\n",
            "\n".join(quick),
            "\n",
            output + "\n\n",
            text[code_end:download] if timing >= 0 else "",
            "\n".join(_full_run_rst(chapter)),
            "\n\n",
            text[download:],
        ]
    )


def decorate_gallery(app: Sphinx) -> None:
    """After sphinx-gallery wrote (or kept) the chapter pages: each laid out as :func:`_decorated` says. The
    page as sphinx-gallery wrote it is kept beside it (``.rst.orig``), so a page it did not rewrite this time
    (the chapter did not change) is laid out again from that copy."""
    conf = app.config.sphinx_gallery_conf
    name = conf["gallery_dirs"]
    gallery = Path(app.srcdir) / name
    if not gallery.is_dir():
        return
    for page in sorted(gallery.glob("ch[0-9][0-9]_*.rst")):
        original = page.with_name(page.name + ".orig")
        text = page.read_text(encoding="utf-8")
        if MARK in text:
            if not original.is_file():
                logger.warning(
                    f"{page}: laid out before, but its original is gone: delete the page to rebuild it"
                )
                continue
            text = original.read_text(encoding="utf-8")
        else:
            original.write_text(text, encoding="utf-8")
        try:
            decorated = _decorated(text, page.stem, name)
        except ValueError as error:
            logger.warning(f"{page}: {error}")
            continue
        decorated = f"{MARK} laid out by docs/_ext/scratchnet_docs.py\n\n" + decorated
        if decorated != page.read_text(encoding="utf-8"):  # unchanged pages keep their mtime: no re-read
            page.write_text(decorated, encoding="utf-8")


# -- included Markdown ---------------------------------------------------------------------------------------
# README.md and CHANGELOG.md link to each other by file name; included into the guides, those links point at
# the guide pages that include them.
LINKS = {"CHANGELOG.md": "/guides/changelog", "README.md#performance": "/guides/performance"}


def retarget_markdown_links(app: Sphinx, doctree: nodes.document) -> None:
    from sphinx import addnodes

    for node in doctree.findall(addnodes.pending_xref):
        if node.get("reftype") == "myst" and node.get("reftarget") in LINKS:
            node["refdomain"], node["reftype"] = "std", "doc"
            node["reftarget"] = LINKS[node["reftarget"]]
            node["refexplicit"] = True


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", add_fast_path_note, priority=600)
    app.connect("autodoc-process-signature", layer_signature)
    app.connect("builder-inited", decorate_gallery, priority=900)  # after sphinx-gallery's pages
    app.connect("doctree-read", retarget_markdown_links)
    app.add_directive("fast-paths", FastPathsDirective)
    app.add_directive("public-names", PublicNamesDirective)
    app.add_directive("dataset-registry", DatasetRegistryDirective)
    app.add_directive("readme-testcode", ReadmeTestcode)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
