"""Checks of group g."""
