"""Text from a build, a file name or a server, made safe to print on one line.

An unprintable character is escaped (a newline as ``\\n``, ESC as ``\\x1b``, CR as
``\\r``, a bidi override as ``\\u202e``, an undecodable byte as ``\\udcff``), so such
text cannot start a line of its own, move the cursor, or forge a workflow command
(``::add-mask::``) that a CI runner reads from the start of a line.
"""

from __future__ import annotations


def printable(text: str, keep: str = "") -> str:
    """``text`` with every unprintable character but those in ``keep`` escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep
                   else c.encode("unicode_escape").decode("ascii") for c in text)
