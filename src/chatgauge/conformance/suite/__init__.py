"""The shipped conformance suite: ``pytest --pyargs chatgauge.conformance.suite``."""
