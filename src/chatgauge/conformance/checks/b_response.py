"""Checks of group b."""
