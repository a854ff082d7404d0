"""Text that came from S3 or from a node, made fit to show a person.

Anyone who can write to the bucket (or has a shell on a node) controls cluster names and
endpoints in the index, job and step messages and node reports. Shown raw, such text can
drive the user's terminal: ESC and CSI sequences move the cursor or hide lines, OSC sets
the window title or the clipboard, and a C1 byte is an escape of its own on many
terminals. Both faces show untrusted text only through `printable`; JSON and YAML output
keep every character, escaped by their encoders.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls, and the Unicode bidirectional overrides and isolates
# (they reorder what the eye reads: "Trojan source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# In multi-line text, a line break and a tab stay; every other control goes.
_CONTROL_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACES = str.maketrans({"\n": " ", "\t": " "})


def printable(value: object, *, multiline: bool = False) -> str:
    """`value` as text with no control characters: nothing in it can drive a terminal.

    One-line text (a table cell, a name, a message in a line) also has its line breaks
    and tabs turned into spaces, so a value cannot forge the rows around it."""
    text = value if isinstance(value, str) else str(value)
    if multiline:
        return _CONTROL_KEEP_LINES.sub("", text)
    return _CONTROL.sub("", text.translate(_SPACES))
