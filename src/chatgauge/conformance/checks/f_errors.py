"""Checks of group f."""
