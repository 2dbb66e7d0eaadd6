"""The reference endpoint behind ``chatgauge serve``: a faithful OpenAI chat-completions
server with a latency model, a timing log, fault injection and unusual framings.

It is chatgauge's default target and its own test double: in faithful mode it honours every
server-side rule of the conformance catalogue; each name in :data:`FAULTS` breaks exactly one
rule; each name in :data:`FRAMINGS` is valid but unusual. A user message containing
:data:`FAIL_MIDSTREAM_MARKER` makes a streamed response send two content events, then a
``data: {"error": {...}}`` event and ``data: [DONE]``: a stream that fails as rule F3 says
it should, to test clients with (no check can provoke that on an arbitrary endpoint).
"""

from chatgauge.server._app import create_app
from chatgauge.server._config import ServerConfig
from chatgauge.server._faults import FAULTS, FRAMINGS, Fault, Framing
from chatgauge.server._generation import FAIL_MIDSTREAM_MARKER
from chatgauge.server._runner import ServerStartError, background_server, run_server
from chatgauge.server._subprocess import spawned_server

__all__ = [
    "FAIL_MIDSTREAM_MARKER",
    "FAULTS",
    "FRAMINGS",
    "Fault",
    "Framing",
    "ServerConfig",
    "ServerStartError",
    "background_server",
    "create_app",
    "run_server",
    "spawned_server",
]
