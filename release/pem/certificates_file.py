"""``certificates-file:``: entries in tpm-ca-certificates' configuration format.

The format of that project's ``.tpm-roots.yaml`` and ``.tpm-intermediates.yaml``
(https://github.com/loicsikidi/tpm-ca-certificates, docs/specifications/
01-configuration-file.md)::

    ---
    version: "alpha"
    vendors:
        - id: "NTC"
          name: "Nuvoton Technology"
          certificates:
            - name: "Nuvoton TPM Root CA 1110"
              url: "https://www.nuvoton.com/.../Nuvoton%20TPM%20Root%20CA%201110.cer"
              validation:
                fingerprint:
                    sha256: "27:82:E5:..."

Those files are read unchanged. One addition: ``path:`` in place of ``url:`` names a
file in the repository. Every problem is reported at its ``file:line:col``, all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from release.errors import Diagnostic, InputError, Location, PipelineError, suggest
from release.pem.entry import CertificateSource, check_path, check_url
from release.pem.pins import SIZES, InvalidPin, Pins
from release.yamlsource import YamlDocument, YamlPath, dotted, parse

#: Versions of the format this reader knows.
VERSIONS = ("alpha",)
MAX_BYTES = 1024 * 1024
_TOP = ("version", "vendors")
_VENDOR = ("id", "name", "certificates")
_CERTIFICATE = ("name", "description", "url", "path", "validation")
_FORMAT_HINT = ("see tpm-ca-certificates' docs/specifications/01-configuration-file.md "
                "(`path:` may replace `url:`)")
_PIN_HINT = ("copy the digest from `openssl x509 -in FILE -noout -fingerprint -sha256` "
             "(or -sha384, -sha512, -sha1)")


class CertificatesFileError(InputError):
    """The certificates file is unreadable or invalid; every problem has its location."""


def read_certificates_file(data: bytes, file: str) -> list[CertificateSource]:
    """The entries of a certificates file's bytes; ``file`` is how messages name it."""
    if len(data) > MAX_BYTES:
        raise CertificatesFileError(f"the certificates file is larger than "
                                    f"{MAX_BYTES // 1024} KiB", "a list of certificates is "
                                    "a few KiB: is this the right file?", Location(file))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        raise CertificatesFileError(
            "the certificates file is not valid UTF-8", "save it as UTF-8",
            Location(file, before.count(b"\n") + 1,
                     exc.start - (before.rfind(b"\n") + 1) + 1)) from None
    return parse_certificates_file(text, file)


def parse_certificates_file(text: str, file: str) -> list[CertificateSource]:
    """The entries of a certificates file's text, in the file's order."""
    try:
        doc = parse(text, file)
    except PipelineError as exc:
        if exc.message == "pipeline file is empty":
            raise CertificatesFileError("the certificates file is empty",
                                        'start with `version: "alpha"` and a `vendors:` list',
                                        exc.location) from None
        raise CertificatesFileError(exc.message, exc.hint or "fix the YAML syntax at this "
                                    "place; " + _FORMAT_HINT, exc.location, exc.path,
                                    extra=exc.extra) from None
    except RecursionError:
        raise CertificatesFileError("the certificates file is nested too deeply",
                                    _FORMAT_HINT, Location(file)) from None
    reader = _Reader(doc)
    entries = reader.read()
    if reader.problems:
        first, *rest = reader.problems
        raise CertificatesFileError(first.message, first.hint, first.location, first.path,
                                    extra=rest)
    return entries


@dataclass
class _Reader:
    doc: YamlDocument
    problems: list[Diagnostic] = field(default_factory=list)
    #: Where each vendor id, certificate name, source and pin was first seen:
    #: its YAML path (aliases give two paths one position) and its location.
    seen: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)

    def problem(self, path: YamlPath, message: str, hint: str | None = None, *,
                key: bool = False) -> None:
        self.problems.append(Diagnostic(message, self.doc.location(path, key=key),
                                        dotted(path), hint))

    def read(self) -> list[CertificateSource]:
        root = self.doc.data
        if not self.mapping(root, (), _TOP, required=_TOP):
            return []
        assert isinstance(root, dict)
        version = root.get("version")
        if version is not None and version not in VERSIONS:
            self.problem(("version",), f"unsupported certificates-file version "
                         f"{_short(version)}", f'this tool reads version: "{VERSIONS[0]}"')
        vendors = root.get("vendors")
        if not isinstance(vendors, list) or not vendors:
            if "vendors" in root:
                self.problem(("vendors",), "`vendors` is a non-empty list of vendors",
                             _FORMAT_HINT)
            return []
        entries: list[CertificateSource] = []
        for i, vendor in enumerate(vendors):
            entries += self.vendor(vendor, ("vendors", i))
        return entries

    def vendor(self, data: Any, path: YamlPath) -> list[CertificateSource]:
        if not self.mapping(data, path, _VENDOR, required=("id", "name")):
            return []
        ident = self.text(data, (*path, "id"), limit=32)
        name = self.text(data, (*path, "name"), limit=200)
        if ident is not None and self.duplicate(("id", ident), (*path, "id"),
                                                f"vendor id {ident!r}"):
            ident = None
        certs = data.get("certificates")
        certs = [] if certs is None else certs  # `certificates:` with nothing: none yet
        if not isinstance(certs, list):
            self.problem((*path, "certificates"), "`certificates` is a list", _FORMAT_HINT)
            return []
        out = [self.certificate(cert, (*path, "certificates", i), ident, name)
               for i, cert in enumerate(certs)]
        return [entry for entry in out if entry is not None]

    def certificate(self, data: Any, path: YamlPath, owner: str | None,
                    vendor: str | None) -> CertificateSource | None:
        if not self.mapping(data, path, _CERTIFICATE, required=("name", "validation")):
            return None
        name = self.text(data, (*path, "name"), limit=200)
        if "description" in data:
            self.text(data, (*path, "description"), limit=2000)
        kind = "url" if "url" in data else "path"
        source = None
        if ("url" in data) == ("path" in data):
            self.problem(path, "give exactly one of `url` or `path`", _FORMAT_HINT, key=True)
        elif (source := self.text(data, (*path, kind), limit=2000)) is not None:
            try:
                (check_url if kind == "url" else check_path)(source)
            except ValueError as exc:
                self.problem((*path, kind), str(exc), _FORMAT_HINT)
                source = None
        pins = self.pins(data.get("validation"), (*path, "validation"))
        if None in (owner, vendor, name, source, pins):
            return None
        assert name is not None and pins is not None and source is not None
        if self.duplicate((str(owner), "name", name), (*path, "name"),
                          f"certificate name {name!r} of vendor {owner!r}"):
            return None
        if self.duplicate((kind, source), (*path, kind), f"{kind} {source!r}"):
            return None
        for alg, digest in pins.digests:
            if self.duplicate(("pin", alg, digest), (*path, "validation", "fingerprint", alg),
                              f"{alg} fingerprint"):
                return None
        where = self.doc.location(path)
        return CertificateSource(
            f"{where} {dotted(path)} {name!r} ({source})", name, pins,
            path=source if kind == "path" else None, url=source if kind == "url" else None,
            owner=owner, vendor=vendor)

    def pins(self, data: Any, path: YamlPath) -> Pins | None:
        if not self.mapping(data, path, ("fingerprint",), required=("fingerprint",)):
            return None
        fingerprint = data["fingerprint"]
        where = (*path, "fingerprint")
        if not isinstance(fingerprint, dict) or not fingerprint:
            self.problem(where, "`fingerprint` maps sha256 (preferred), sha384, sha512 or "
                         "sha1 to the certificate's digest", _PIN_HINT)
            return None
        ok = True
        for alg, value in fingerprint.items():
            try:
                Pins.parse({alg: value})
            except InvalidPin as exc:
                self.problem((*where, str(alg)), str(exc), _PIN_HINT, key=alg not in SIZES)
                ok = False
        return Pins.parse(fingerprint) if ok else None

    def mapping(self, data: Any, path: YamlPath, allowed: tuple[str, ...],
                required: tuple[str, ...]) -> bool:
        """Whether ``data`` is a mapping with every required key; unknown keys are reported
        (so the entry is not used) without stopping the reading of the rest."""
        what = dotted(path) if path else "the certificates file"
        if not isinstance(data, dict):
            self.problem(path, f"{what} must be a mapping", _FORMAT_HINT)
            return False
        ok = True
        for key in data:
            if key not in allowed:
                guess = suggest(str(key), list(allowed))
                self.problem((*path, str(key)), f"unknown key {_short(key)}",
                             f"did you mean {guess!r}?" if guess else
                             f"allowed keys: {', '.join(allowed)}", key=True)
        for key in required:
            if key not in data:
                self.problem(path, f"missing required key {key!r} in {what}", _FORMAT_HINT,
                             key=True)
                ok = False
        return ok

    def text(self, data: dict[Any, Any], path: YamlPath, *, limit: int) -> str | None:
        value = data.get(path[-1])
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            self.problem(path, f"`{path[-1]}` is a non-empty string of at most {limit} "
                         f"characters (got {_short(value)})",
                         "quote it if YAML reads it as another type" if value is not None
                         and not isinstance(value, str) else _FORMAT_HINT)
            return None
        return value

    def duplicate(self, ident: tuple[str, ...], path: YamlPath, what: str) -> bool:
        """Record ``ident`` at ``path``; report and return True if it was seen before."""
        here = (dotted(path), str(self.doc.location(path)))
        first = self.seen.setdefault(ident, here)
        if first != here:
            self.problem(path, f"duplicate {what} (first at {first[1]}, {first[0]})",
                         "list each vendor and certificate once")
            return True
        return False


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
