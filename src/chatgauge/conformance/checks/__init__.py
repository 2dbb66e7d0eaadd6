"""The check catalogue, one module per group of the conformance rules.

Importing this package registers every check (see ``_registry.check``).
"""

from chatgauge.conformance.checks import (  # noqa: F401 - imported to register
    a_acceptance,
    b_response,
    c_usage,
    d_framing,
    e_chunks,
    f_errors,
    g_features,
)
