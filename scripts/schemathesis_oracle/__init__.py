"""schemathesis, pinned, as an independent oracle for the reference endpoint (issue 16).

``spec`` patches the vendored OpenAI document, ``run`` runs schemathesis against
``chatgauge serve``, ``findings`` reads its report, ``allowlist`` says which findings are not
endpoint bugs and why, ``report`` prints a run, ``faults`` compares runs against the faulty
endpoints. ``python -m scripts.schemathesis_oracle --help`` lists the options.
"""
