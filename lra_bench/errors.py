"""User-facing errors: each carries one line that names what was wrong and what was expected.

The CLI prints `lra-bench: error: <message>` for these and exits with status 2, without a traceback,
so that a mistyped key or a missing file reads as an answer, not as a crash.
"""

import difflib


class LraBenchError(Exception):
    """Base for errors whose message is meant for the user as it is (one line)."""


class ConfigError(LraBenchError):
    """A config key, value or type is wrong."""


class DataError(LraBenchError):
    """A data file or dataset is missing or malformed."""


def did_you_mean(name: str, choices) -> str:
    """A ' (did you mean 'x'?)' suffix for the closest known name, or '' if none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
