"""Checks of group a."""
