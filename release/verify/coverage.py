"""Every file in the folder must be vouched for: the rule behind ``UNCOVERED`` lines.

A consumer reads "verified" as "every file here is what the project released". So a
file is *covered* only when a check that succeeded vouches for its exact bytes:

- an artifact: listed in a checksums file whose own signature verified, with a matching
  digest in every checksums file that lists it; or signed itself (``F.sigstore.json``,
  ``F.sig`` with ``--key``) by a signature that verified; or named, by its path and its
  sha256, as a subject of a statement whose signature verified (an SBOM the provenance
  attests); a failed checksum of a file overrides all of these;
- a checksums file: its signature verified; or, unsigned, every line of it is well formed
  and names a file that matched and is covered by other means (then it says nothing the
  verified files do not);
- a signature, Sigstore bundle or ``.intoto.jsonl`` statement file: it was itself used in
  a verification that succeeded (a statement file only when it holds exactly the signed
  statements);
- a public key file (``.pub``, ``.pem``): only when it is the very key given with
  ``--key`` (same fingerprint) and that key verified something. ``--key`` itself may not
  come from the folder (refused as misuse): a key shipped beside the signatures it
  checks proves nothing, since whoever replaced the files could replace it too.

Anything else (an unlisted ``install.sh``, a key planted beside the release, a file in a
sub-folder no checksum lists, a symlink, which is never followed, a FIFO) is reported on
its own ``UNCOVERED`` line and fails the verification, unless ``--ignore`` names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from release.verify import checksums
from release.verify.folder import SMALL_LIMIT, FolderError, Kind, ReleaseFolder
from release.verify.keys import KEY_SUFFIXES, SIG_SUFFIX, PublicKey
from release.verify.report import Report
from release.verify.sigstore_bundles import BUNDLE_SUFFIXES

PROVENANCE_SUFFIX = ".intoto.jsonl"
#: ``gh attestation download``'s names (see :mod:`release.verify.attestation_sources`).
_DOWNLOAD = re.compile(r"^(sha256|sha1)[:-]([0-9a-f]{40}|[0-9a-f]{64})\.jsonl$")


@dataclass(frozen=True)
class Evidence:
    """What the checks established, from which coverage is decided."""

    #: Files whose every checksum entry matched: name -> sha256.
    artifacts: dict[str, str]
    #: Name -> the checksums files that list it.
    listed_in: dict[str, set[str]]
    #: File -> whether every signature over it verified (absent: none).
    signed: dict[str, bool]
    #: Signature, bundle and statement files used in a verification that succeeded.
    proofs: set[str]
    #: The ``--key`` given, and whether it verified anything.
    key: PublicKey | None
    key_used: bool
    #: Checksums files with no malformed line.
    clean_checksums: frozenset[str] = frozenset()
    #: File -> the verified statement naming it with its sha256.
    attested: dict[str, str] = field(default_factory=dict)

    def covers(self, name: str) -> bool:
        if name in self.proofs:
            return True
        if name in self.clean_checksums and not self.signed.get(name):
            listed = [n for n, files in self.listed_in.items() if name in files]
            if listed and all(self._artifact(n) for n in listed):
                return True
        return self._artifact(name)

    def _artifact(self, name: str) -> bool:
        if name in self.listed_in and name not in self.artifacts:
            return False  # a checksum of it failed: whatever else says, it is not vouched for
        if self.signed.get(name) or name in self.attested:
            return True
        return name in self.artifacts and any(self.signed.get(s) for s in self.listed_in[name])


def report_uncovered(report: Report, folder: ReleaseFolder, evidence: Evidence) -> None:
    """Add an ``UNCOVERED`` line for every entry of the folder nothing vouches for."""
    for name, item in sorted(folder.items.items()):
        if item.kind is Kind.FOLDER:
            continue  # a folder is its files; each is judged on its own
        if item.kind is Kind.SYMLINK:
            report.uncovered(name, f"a symlink (to {item.detail}): never followed, "
                                   "never verified")
        elif item.kind is Kind.OTHER:
            report.uncovered(name, f"{item.detail}, not a regular file")
        elif not evidence.covers(name):
            reason = _reason(folder, name, evidence)
            if reason is not None:
                report.uncovered(name, reason)


def _reason(folder: ReleaseFolder, name: str, ev: Evidence) -> str | None:
    """Why a regular file is not covered; None when it is the pinned key after all."""
    if name in ev.listed_in:
        if name not in ev.artifacts:
            return "its checksum check failed"
        return ("listed only in checksums files whose signature did not verify ("
                + ", ".join(sorted(ev.listed_in[name])) + ")")
    if name.endswith(KEY_SUFFIXES):
        return _key_reason(folder, name, ev)
    if name.endswith(SIG_SUFFIX):
        return ("a key signature, not checked: no --key given" if ev.key is None
                else "a key signature that did not verify")
    if name.endswith(BUNDLE_SUFFIXES):
        return "a Sigstore bundle that did not verify (or an attestation that attests no " \
               "file here)"
    if name.endswith(PROVENANCE_SUFFIX):
        return "a statement file not (wholly) covered by a signature that verified"
    if name.endswith(".jsonl") and _DOWNLOAD.match(name.rsplit("/", 1)[-1]):
        return ("an attestation file (gh attestation download) not every line of which "
                "verified, met the policy and attests a file here")
    if checksums.is_checksums_file(name.rsplit("/", 1)[-1]):
        if "/" in name:
            return ("a checksums file in a sub-folder: only the top level of the folder is "
                    "read for checksums files")
        return "a checksums file no verified signature covers"
    if ev.signed.get(name) is False:
        return "its signature did not verify"
    return "listed in no verified checksums file and signed by nothing"


def _key_reason(folder: ReleaseFolder, name: str, ev: Evidence) -> str | None:
    if ev.key is None:
        return ("a public key shipped with the release, which is no trust anchor: pass the "
                "key you obtained separately with --key")
    try:
        found = PublicKey.from_pem(folder.read(name, SMALL_LIMIT, "a public key"))
    except FolderError as exc:
        return str(exc)
    except ValueError:
        return "not a P-256 public key, so not the --key one"
    if found.fingerprint != ev.key.fingerprint:
        return (f"a public key other than --key ({found.fingerprint}, not "
                f"{ev.key.fingerprint})")
    if not ev.key_used:
        return "the --key public key, but it verified no signature here"
    return None
