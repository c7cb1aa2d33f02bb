"""DSSE envelopes: the pre-authentication encoding and the JSON form, with the stdlib only.

Spec: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md and
https://github.com/secure-systems-lab/dsse/blob/master/envelope.md. A signature
covers ``PAE(payloadType, payload)``, never the JSON, so an envelope can be
re-serialized without breaking it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: How every signing input of DSSE starts. A detached signature over a file starting so
#: could equally be an envelope's signature over a statement (the same key signs both
#: as ECDSA over SHA-256), so no such file is signed or accepted as signed.
PAE_PREFIX = b"DSSEv1 "


def pae(payload_type: str, payload: bytes) -> bytes:
    """``DSSEv1 SP LEN(type) SP type SP LEN(body) SP body``, lengths as ASCII decimals of bytes."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement_bytes(statement: Mapping[str, Any]) -> bytes:
    """The exact payload bytes signed for a statement: compact, key-sorted UTF-8 JSON."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope with its decoded payload and ``(keyid, signature bytes)`` pairs.

    The spec makes ``keyid`` an optional, unauthenticated hint; verifiers must not trust
    it. Which value a backend puts there is its choice (see :mod:`release.signing.keys`).
    """

    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]

    def to_json(self) -> dict[str, Any]:
        """The envelope's JSON object, with base64 (standard alphabet, padded) fields."""
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")}
                           for keyid, sig in self.signatures],
        }
