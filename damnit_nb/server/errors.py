"""The errors of the server extension: each subclasses the built-in it specialises, says what
to do next, and carries the HTTP ``status`` the handlers answer it with."""

__all__ = [
    "ServerError",
    "BadRequestError",
    "OutsideRootsError",
    "NotFoundError",
    "PathInTheWayError",
    "UnreadableDatabaseError",
    "DatabaseBusyError",
]


class ServerError(Exception):
    """Base of the errors answered as ``{"message": ...}`` with ``status``."""

    status = 500


class BadRequestError(ServerError, ValueError):
    """A parameter that cannot be understood (``value`` is what was given)."""

    status = 400

    def __init__(self, message, value=None):
        super().__init__(message)
        self.value = value


class OutsideRootsError(ServerError, PermissionError):
    """A path outside the proposal roots the server is configured to serve."""

    status = 403

    def __init__(self, path, roots):
        self.path = path
        self.roots = list(roots)
        super().__init__(
            f"{path} is outside the proposal directories this server serves "
            f"({', '.join(self.roots) or 'none'}). Give a proposal number or a proposal "
            "directory under them; an administrator can add roots with "
            "c.DamnitNbServer.proposal_roots.")


class NotFoundError(ServerError, LookupError):
    """No such proposal, database, run or thumbnail; the message says where we looked."""

    status = 404


class PathInTheWayError(ServerError, FileExistsError):
    """Something that is not the proposal's notebook where it is to be made."""

    status = 409


class UnreadableDatabaseError(ServerError, OSError):
    """The proposal's database exists but cannot be served as it is (damaged, not DAMNIT's, or
    in an older format that must be upgraded first, which a GET never does)."""

    status = 409

    def __init__(self, path, message):
        self.path = path
        super().__init__(message)


class DatabaseBusyError(ServerError, OSError):
    """The database stayed locked (or its file system failed) past the busy timeout."""

    status = 503
