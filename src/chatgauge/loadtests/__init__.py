"""Locust scenarios and exact streaming metrics (filled by the load-testing issue)."""
