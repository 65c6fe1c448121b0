"""The one error type users see: a message naming the file, node or op, and a hint."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str, limit: int = 200) -> str:
    """`text` safe for a terminal: control characters (ESC sequences, NUL, newlines) as
    escapes, and at most `limit` characters. Names from a model go through this before
    they are printed. A longer text loses its middle: a layer's name differs from its
    neighbours' at the end (`...layers.3.mlp.up_proj`), so the end is kept."""
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
    if len(text) <= limit:
        return text
    head = (limit - 3) // 3
    return text[:head] + "..." + text[len(text) - (limit - 3 - head) :]


def note(message: str, kind: str = "note") -> None:
    """One line on stderr for the user (`nscc: note: ...`), names from the model escaped."""
    import sys

    print(f"nscc: {kind}: {printable(message, 2000)}", file=sys.stderr)


class NsccError(Exception):
    """An error caused by the user's input, reported as one line and a non-zero exit.

    `lines` holds extra lines for errors that are naturally several (all the
    unsupported ops of a model, reported at once).
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, *, lines: list[str] | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.lines = lines or []
        if exit_code is not None:
            self.exit_code = exit_code

    def render(self) -> str:
        out = [f"nscc: error: {printable(self.message, 2000)}" + (f" (hint: {printable(self.hint, 2000)})" if self.hint else "")]
        out += [f"nscc: error: {printable(line, 2000)}" for line in self.lines]
        return "\n".join(out)


class UnsupportedError(NsccError):
    """The model uses something nscc cannot lower (exit code 2)."""

    exit_code = 2
