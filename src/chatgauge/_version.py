"""The single source of chatgauge's version number."""

__version__ = "0.1.0"
