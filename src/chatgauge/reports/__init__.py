"""Rendering of JSON results into single-file HTML reports (filled by the reports issue)."""

from chatgauge.reports._load_html import render_load_html

__all__ = ["render_load_html"]
