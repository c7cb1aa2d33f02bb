"""DSSE envelopes: the pre-authentication encoding and the JSON form, with the stdlib only.

Spec: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md and
https://github.com/secure-systems-lab/dsse/blob/master/envelope.md. A signature
covers ``PAE(payloadType, payload)``, never the JSON, so an envelope can be
re-serialized without breaking it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from release.errors import ReleaseError

#: Payload type of an in-toto statement (https://github.com/in-toto/attestation/blob/main/spec/v1/envelope.md).
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


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
    """A DSSE envelope with its decoded payload and ``(keyid, signature bytes)`` pairs."""

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

    def to_line(self) -> str:
        """One line of a ``.intoto.jsonl`` file (JSON Lines: no newline inside)."""
        return json.dumps(self.to_json(), separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, data: Any, where: str) -> Envelope:
        """Parse an envelope object; ``where`` names its file in errors."""
        try:
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            sigs = tuple((str(s.get("keyid", "")), _b64(s["sig"]))
                         for s in data["signatures"])
            return cls(str(data["payloadType"]), _b64(data["payload"]), sigs)
        except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise ReleaseError(f"{where} is not a DSSE envelope: {exc}",
                               "expected {payloadType, payload, signatures[{keyid, sig}]}"
                               ) from exc

    def statement(self) -> dict[str, Any]:
        """The payload decoded as a JSON object (an in-toto statement)."""
        try:
            data = json.loads(self.payload)
        except ValueError as exc:
            raise ReleaseError(f"the envelope's payload is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ReleaseError("the envelope's payload is not a JSON object")
        return data


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError("base64 field is not a string")
    # DSSE allows either alphabet, padded or not
    padded = value + "=" * (-len(value) % 4)
    if "-" in value or "_" in value:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded, validate=True)
