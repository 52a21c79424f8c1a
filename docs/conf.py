"""Sphinx configuration of the flask-supportdesk documentation.

Builds offline (no intersphinx, no theme downloads):
``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

# The local extension that generates the configuration reference from the code.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))

project = "flask-supportdesk"
author = "flask-supportdesk contributors"
copyright = "flask-supportdesk contributors"
try:
    release = importlib.metadata.version("flask-supportdesk")
except importlib.metadata.PackageNotFoundError:  # building from a bare checkout
    release = "0.1"
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "supportdesk_docs",
]

# Annotations stay as written: several refer to names imported only for type checking.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"

root_doc = "index"
exclude_patterns = ["_build"]
templates_path: list[str] = []
html_static_path: list[str] = []

html_theme = "alabaster"
html_title = f"flask-supportdesk {release}"
html_theme_options = {
    "description": "A customer support desk for Flask online stores.",
    "fixed_sidebar": True,
    # Wide enough for the 100-character code lines of the samples.
    "page_width": "1160px",
    "body_max_width": "auto",
}
