"""Conformance checks for OpenAI-compatible chat-completions endpoints (filled by issue 3)."""
