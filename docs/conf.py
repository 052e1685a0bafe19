"""Sphinx configuration of the calipers documentation (`make docs`, offline, warnings = errors)."""

from __future__ import annotations

import sys
from pathlib import Path

import calipers

project = "calipers"
author = "The calipers developers"
copyright = "2026, The calipers developers"
version = release = calipers.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# Offline build: no inventories are fetched (intersphinx_mapping stays empty).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Docstrings describe numpy-style types in prose ("array_like, shape (n,)"): do not try to
# cross-reference every word of them.
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

html_theme = "pydata_sphinx_theme"
html_title = f"calipers {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
}
html_static_path: list[str] = []

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "write_computation_times": False,  # that page loads scripts from CDNs: keep the site offline
}

exclude_patterns = ["_build", "**.ipynb_checkpoints", "examples/README.rst"]
templates_path: list[str] = []
sys.path.insert(0, str(Path(__file__).parent))
