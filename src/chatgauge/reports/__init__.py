"""Rendering of JSON results into single-file HTML reports (filled by the reports issue)."""
