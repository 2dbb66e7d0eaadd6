"""The one Jinja2 environment every report page is rendered with.

Autoescaping is on for every template, so any value taken from a result document (endpoint
text is untrusted: a completion may contain ``<script>``) reaches the page escaped, and
template syntax inside a value is data, never evaluated. ``StrictUndefined`` turns a
misspelt variable into an error instead of a silently empty cell.
"""

from __future__ import annotations

from typing import Any

import jinja2

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("chatgauge.reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **context: Any) -> str:
    """Render the named template of ``reports/templates`` with ``context``."""
    return ENV.get_template(template).render(**context)


__all__ = ["ENV", "render"]
