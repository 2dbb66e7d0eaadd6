"""Checks of group c."""
