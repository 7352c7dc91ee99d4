"""One exception hierarchy for mobco2; each class carries its documented exit code.

The CLI translates these once, at its boundary, into a one-line ``Error: …`` on stderr
followed by the hint, and exits with ``exit_code`` (DESIGN §6):

====  ===========================================================
0     success
1     unexpected failure (a bug: please report it)
2     usage error
65    bad input data (EX_DATAERR)
66    input not found (EX_NOINPUT)
73    cannot write output (EX_CANTCREAT)
75    temporary failure: store locked, network (EX_TEMPFAIL)
====  ===========================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DATAERR = 65
EXIT_NOINPUT = 66
EXIT_CANTCREAT = 73
EXIT_TEMPFAIL = 75


class Mobco2Error(Exception):
    """Base of every error mobco2 raises on purpose.

    ``message`` says what failed; ``hint`` says what the user can do about it.
    """

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint on one line, for stderr."""
        text = self.message.replace("\n", " ")
        if self.hint:
            text = f"{text} — {self.hint.replace(chr(10), ' ')}"
        return text


class UsageError(Mobco2Error):
    """The command line or a setting does not make sense."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration file or value is invalid."""


class InputNotFoundError(Mobco2Error):
    """A path the user named does not exist or cannot be read."""

    exit_code = EXIT_NOINPUT


class InputDataError(Mobco2Error):
    """An input file is malformed, hostile, or holds nothing usable.

    ``path`` names the file (or archive member) and ``record`` locates the problem inside it
    (a record index, a line number, an XML element), when known.
    """

    exit_code = EXIT_DATAERR

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        record: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.record = record
        self.problem = message
        where = ""
        if path:
            where = f"{path}"
            if record:
                where += f" ({record})"
            where += ": "
        super().__init__(f"{where}{message}", hint=hint)


class UnsupportedFormatError(InputDataError):
    """The file's content matches no format mobco2 reads, or one it deliberately refuses."""


class HostileInputError(InputDataError):
    """The file tries something dangerous: entity expansion, zip bomb, path traversal."""


class RejectedRecordsError(InputDataError):
    """Some records were invalid; without ``--allow-rejects`` the whole file is rolled back."""

    def __init__(self, message: str, *, path: str | None, record: str | None, rejected: int) -> None:
        super().__init__(
            message,
            path=path,
            record=record,
            hint="fix the file, or pass --allow-rejects to import the valid records and count the rest",
        )
        self.rejected = rejected


class FactorSetError(InputDataError):
    """An emission-factor file is malformed (missing column, negative value, unknown mode)."""


class OutputError(Mobco2Error):
    """An output file or the store cannot be written."""

    exit_code = EXIT_CANTCREAT


class StoreError(Mobco2Error):
    """The store is damaged or from an incompatible version."""

    exit_code = EXIT_FAILURE


class StoreLockedError(Mobco2Error):
    """Another mobco2 process holds the store lock for longer than we were willing to wait."""

    exit_code = EXIT_TEMPFAIL


class NetworkError(Mobco2Error):
    """A network operation failed in a way that may succeed later."""

    exit_code = EXIT_TEMPFAIL


class NotFoundError(Mobco2Error):
    """A trip, leg, factor set or other named object does not exist."""

    exit_code = EXIT_NOINPUT
