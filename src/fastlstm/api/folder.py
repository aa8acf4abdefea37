"""A run's output folder: never mixed with an earlier run, locked while in use, writable.

Rules (also in docs/cli.md):

* a new run refuses a folder that already holds files, unless it resumes the
  run saved there (``resume=``) or is told to replace it (``overwrite=True``);
* while a run writes into a folder it holds ``.fastlstm.lock`` there (process
  id and host); a second run into the same folder fails at once, naming the
  first; a lock left by a process that no longer exists is taken over;
* ``overwrite=True`` deletes the files a run writes (checkpoints, curves,
  summary) just before the new run writes its first file
  (:meth:`RunFolder.clear_earlier`), so none of the old run's are left mixed
  with the new one's, and a new run that fails or is interrupted before it
  saves anything leaves the old run as it was; other files are kept;
* creating the lock is the check that the folder is writable, done before any
  data are read or a model is built.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from fastlstm.api.specs import BEST_FILE, LAST_FILE, LOCK_FILE, RunError
from fastlstm.io.files import pid_alive

__all__ = ["RunFolder", "RUN_FILES"]

#: the files a run writes into its folder
RUN_FILES = (
    BEST_FILE,
    LAST_FILE,
    "summary.json",
    "loss.png",
    "accuracy.png",
    "attention.png",
    "perplexity.png",
    "val_perplexity.png",
)


def _read_lock(path: Path) -> tuple[int | None, str]:
    """``(pid, host)`` written in a lock file; ``(None, '')`` if unreadable."""
    try:
        words = path.read_text(encoding="utf-8").split()
        return int(words[0]), (words[1] if len(words) > 1 else "")
    except (OSError, ValueError, IndexError):
        return None, ""


class RunFolder:
    """The output folder of one run, held (locked) between :meth:`acquire` and :meth:`release`.

    Parameters
    ----------
    path : str or os.PathLike
        The folder; created if missing, and removed again (with the parents
        created for it) if the run fails and leaves it empty.
    resume : bool, default False
        The run continues the one saved in this folder: files are expected.
    overwrite : bool, default False
        The run may replace the files of an earlier run.
    """

    def __init__(self, path, resume: bool = False, *, overwrite: bool = False):
        self.path = Path(path).expanduser()
        self.resume = bool(resume)
        self.overwrite = bool(overwrite)
        #: the earlier run's files are still to be deleted (see :meth:`clear_earlier`)
        self.pending_clear = self.overwrite and not self.resume
        self.lock = self.path / LOCK_FILE
        self._held = False
        self._created: list[Path] = []  # folders this run created, deepest first

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.release()
        if exc_type is not None:
            self.remove_if_empty()

    def remove_if_empty(self) -> None:
        """Remove the folders this run created if they hold nothing (a run that failed)."""
        for folder in self._created:
            try:
                folder.rmdir()  # only if empty
            except OSError:
                break
        self._created = []

    def acquire(self) -> None:
        """Create the folder, take its lock, refuse it if an earlier run's files are there.

        Raises
        ------
        RunError
            If the folder cannot be created or written, another live run holds
            it, or it holds files and neither ``resume`` nor ``overwrite`` was given.
        """
        missing, folder = [], self.path.absolute()
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._created = missing
        except OSError as exc:
            raise RunError(
                f"cannot create the output folder {self.path}: {exc.strerror or exc}"
            ) from None
        if not self.path.is_dir():
            raise RunError(f"the output folder {self.path} is not a folder")
        try:
            self._take_lock()
            self._check_empty()
        except BaseException:
            self.release()
            self.remove_if_empty()
            raise

    def _take_lock(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._clear_stale_lock()
                continue
            except OSError as exc:
                raise RunError(
                    f"cannot write into the output folder {self.path}: "
                    f"{exc.strerror or exc} (choose another folder with out=/--out)"
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(f"{os.getpid()} {socket.gethostname()}\n")
            self._held = True
            return
        raise RunError(f"another run just took the output folder {self.path}")

    def _clear_stale_lock(self) -> None:
        pid, host = _read_lock(self.lock)
        here = socket.gethostname()
        if pid is not None and (host not in ("", here) or pid_alive(pid)):
            where = "" if host in ("", here) else f" on {host}"
            raise RunError(
                f"another run (process {pid}{where}) is writing into {self.path}; wait for it, "
                f"choose another folder with out=/--out, or delete {self.lock} if no run uses it"
            )
        try:  # the process that left it is gone: take it over
            self.lock.unlink()
        except FileNotFoundError:
            pass

    def clear_earlier(self) -> None:
        """Delete the files of the run being replaced (``overwrite``), once.

        Called just before the new run writes its first file, not when the
        folder is taken: data that turn out bad, or a Ctrl-C before the first
        checkpoint, leave the earlier run whole.
        """
        if not self.pending_clear:
            return
        for name in RUN_FILES:
            (self.path / name).unlink(missing_ok=True)
        self.pending_clear = False

    def _check_empty(self) -> None:
        if self.resume or self.overwrite:
            return
        files = sorted(p.name for p in self.path.iterdir() if p.name != LOCK_FILE)
        if not files:
            return
        shown = ", ".join(files[:4]) + (", ..." if len(files) > 4 else "")
        resume = (
            f"resume it (--resume {self.path / LAST_FILE}), "
            if (self.path / LAST_FILE).is_file()
            else ""
        )
        raise RunError(
            f"the output folder {self.path} already holds an earlier run ({shown}); "
            f"{resume}replace it (--overwrite / overwrite=True), or choose another folder "
            "(--out / out=)"
        )

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if not self._held:
            return
        self._held = False
        pid, _ = _read_lock(self.lock)
        if pid == os.getpid():
            try:
                self.lock.unlink()
            except OSError:
                pass
