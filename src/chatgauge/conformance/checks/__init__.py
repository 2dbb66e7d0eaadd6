"""The check catalogue, one module per group (A-H) of ``docs/conformance-rules.md``.

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
    g_limits,
    g_logprobs,
    h_capabilities,
)
