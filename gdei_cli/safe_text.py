"""Text from logs made safe for a terminal (no heavy imports: the CLI's error path uses it).

File, run and metric names come from whoever wrote the logs.  Before any of
them reaches a terminal, control characters (ESC sequences that move the
cursor, erase lines or open OSC 8 links; newlines and carriage returns that
forge lines; BEL, backspace), bidirectional overrides (which reorder what is
shown) and lone surrogates (undecodable bytes of a file name) are written as
visible escapes: ``\\x1b``, ``\\n``, ``\\u202e``.  The report layer prints
names as rich ``Text`` (never as markup), so ``acc[top1]`` or ``x[/b]`` print
as themselves.
"""

from __future__ import annotations

import re
from typing import Final

_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufeff]"
)


def printable(text: object) -> str:
    """*text* with control and bidi characters written as visible escapes."""
    s = str(text)
    if not _UNSAFE.search(s):
        return s
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)
