"""The one exception type for mistakes a user can make on the command line."""


class UsageError(Exception):
    """A bad flag value, an unreachable endpoint, a port in use: printed as one line, exit 2."""
