"""What a stage leaves in its folder: checked, normalised, recorded, and nothing else.

Runs after the stage's processes are gone. Outputs must be regular files inside the
stage's own folder; they get mode 0644 or 0755 and the engine's owner; whatever else the
stage left (scratch files, links, FIFOs) is removed, without following any link.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from release.engine import safefs
from release.engine.digest import file_digests
from release.engine.manifest import ARTIFACT_NAME, MODES, Artifact, ensure_unique_names
from release.errors import StageFailed

#: The mode of the folders an artifact folder keeps.
FOLDER_MODE = 0o755


def record_outputs(out_root: Path, stage: str, outputs: Iterable[tuple[str, str,
                                                                       Mapping[str, str]]]
                   ) -> list[Artifact]:
    """Check, normalise and hash what a stage wrote: regular files in its own folder only.

    Each output gets mode 0644, or 0755 when any execute bit was set: set-id bits and
    write access for others are dropped, and the file is owned by the engine's user.
    """
    stage_dir = (out_root / stage).resolve()
    checked: list[tuple[Path, str, str, Mapping[str, str], int]] = []
    for rel, kind, notes in outputs:
        path = stage_dir / rel
        try:
            st = path.lstat()
        except FileNotFoundError:
            raise StageFailed(f"stage {stage!r} did not produce its declared output {rel!r}",
                              "check the command writes to {out}") from None
        if stat.S_ISLNK(st.st_mode):
            raise StageFailed(f"stage {stage!r} output {rel!r} is a symlink",
                              "outputs must be regular files")
        real = path.resolve()
        if not real.is_relative_to(stage_dir):
            raise StageFailed(f"stage {stage!r} output {rel!r} resolves outside its directory")
        if not stat.S_ISREG(st.st_mode):
            raise StageFailed(f"stage {stage!r} output {rel!r} is not a regular file")
        if not ARTIFACT_NAME.match(real.name):
            raise StageFailed(f"stage {stage!r} output {rel!r} has a name that cannot be an "
                              "artifact's", "use letters, digits and . _ + - only, and do "
                              "not start with -")
        mode = _normalise(real, stage, rel)
        relpath = real.relative_to(out_root.resolve()).as_posix()
        checked.append((real, relpath, kind, notes, mode))
    digests = file_digests(p for p, *_ in checked)
    arts = [Artifact(Path(rel).name, kind, stage, rel, p.stat().st_size, d, dict(notes), mode)
            for (p, rel, kind, notes, mode), d in zip(checked, digests, strict=True)]
    ensure_unique_names(arts, "artifact names become release asset names and must be unique")
    return sorted(arts, key=lambda a: a.path)


def checked(folder: Path, name: str, stage: str) -> Path:
    """``folder/name``, once ``lstat`` says it is a regular file with one name: what a
    stage reads of its own outputs before the engine records them (never a link, a FIFO
    that would block the engine, or a hard link to a file of the host)."""
    path = folder / name
    st = path.lstat()
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        raise StageFailed(f"stage {stage!r} output {name!r} is not a regular file of its own "
                          "(a link, a FIFO or a hard link)", "outputs must be regular files")
    return path


def _normalise(path: Path, stage: str, rel: str) -> int:
    """Give an output its artifact mode and the engine's owner; refuse hard links.

    A hard link (possible without the sandbox) would make the mode change reach the
    other name, a file of the host.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StageFailed(f"stage {stage!r} output {rel!r} is not a regular file")
        if st.st_nlink != 1:
            raise StageFailed(f"stage {stage!r} output {rel!r} is a hard link to another file",
                              "write a new file; outputs must not share their data with "
                              "other files")
        mode = MODES[1] if st.st_mode & 0o111 else MODES[0]
        if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
            os.fchown(fd, 0, 0)  # a build ran as an unprivileged user
        if stat.S_IMODE(st.st_mode) != mode or os.geteuid() == 0:
            os.fchmod(fd, mode)  # after chown, which clears set-id bits only sometimes
        return mode
    finally:
        os.close(fd)


def remove_undeclared(out_root: Path, stage: str, artifacts: list[Artifact]) -> list[str]:
    """Delete what a stage left in its folder besides its outputs (scratch files, links).

    The folder is handed on whole (a CI job uploads it): it must hold exactly what the
    manifest lists, never a symlink to a file of the machine. No link is followed, and
    the folders that remain get mode 0755.
    """
    top = out_root / stage
    keep = {(out_root / a.path).relative_to(top).as_posix() for a in artifacts}
    removed: list[str] = []

    def entry(dirfd: int, name: str, rel: str) -> None:
        if rel not in keep:
            os.unlink(name, dir_fd=dirfd)
            removed.append(f"{stage}/{rel}")

    def leave(dirfd: int, name: str, rel: str) -> None:
        del rel
        if safefs.is_empty(dirfd, name):
            os.rmdir(name, dir_fd=dirfd)
        else:  # a real folder (the walk saw it as one): its last part is no link
            os.chmod(name, FOLDER_MODE, dir_fd=dirfd)

    safefs.walk(top, entry=entry, leave=leave)
    top.chmod(FOLDER_MODE)
    return sorted(removed)
