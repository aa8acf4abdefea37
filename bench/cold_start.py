"""Cold and warm start-up times of two commands, with a scratch kernel cache.

Measures, from process start:

* ``fastlstm train attention --epochs 1``: until the progress bar first moves
  (the first training iteration is done);
* ``fastlstm generate --checkpoint $FASTLSTM_DATA/book-weights/Rnnlm.pkl
  --model rnnlm``: until the first generated word is printed (needs
  ``FASTLSTM_DATA``; skipped without it).

Each command runs twice under a pseudo-terminal (so tqdm shows its bar): first
with an empty kernel cache (``FASTLSTM_NUMBA_CACHE`` and ``NUMBA_CACHE_DIR``
pointing at a new scratch folder: cold, every kernel the run needs is
compiled), then again with that cache filled (warm).  The difference is the
compile cost.  Training is stopped as soon as the bar has moved.

Usage::

    python bench/cold_start.py [--repo PATH] [--rounds N]

``--repo`` runs another checkout of fastlstm (put first on ``PYTHONPATH``),
e.g. an older commit, to compare.  Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BAR_MOVED = re.compile(rb"\b[1-9]\d*/\d+ \[")  # tqdm: " 1/351 [00:01<...]"


def _run_until(cmd, env, cwd, done, timeout=600.0):
    """Run ``cmd`` in a pseudo-terminal until ``done(output)`` is true (the process
    is then stopped): ``(wall seconds, CPU seconds)``, or ``(None, None)`` if it
    exits first.  CPU time is the process's user + system time, which depends
    less on other load on the machine than wall time."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
    )
    os.close(slave)
    out = b""
    seconds = None
    try:
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                out += chunk
                if done(out):
                    seconds = time.perf_counter() - start
                    break
            elif _exited(proc):
                break
    finally:
        cpu = _cpu_seconds(proc.pid)  # before stopping it
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
    if seconds is None:
        sys.stderr.write(out.decode(errors="replace")[-2000:] + "\n")
        return None, None
    return seconds, cpu


def _stat(pid):
    """Fields of ``/proc/PID/stat`` after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(pid):
    """User + system CPU seconds of a running (or not yet reaped) process, all threads, with
    those of its children: the ones it reaped and the ones still running (the compile
    helpers), their descendants included."""
    fields = _stat(pid)
    if fields is None:
        return float("nan")
    ticks = sum(int(fields[k]) for k in (11, 12, 13, 14))  # utime stime cutime cstime
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (f := _stat(entry)) is not None:
            children.setdefault(int(f[1]), []).append((int(entry), f))
    todo = list(children.get(pid, []))
    while todo:
        child, f = todo.pop()
        ticks += sum(int(f[k]) for k in (11, 12, 13, 14))
        todo += children.get(child, [])
    return ticks / os.sysconf("SC_CLK_TCK")


def _exited(proc):
    """True if the child has exited (without reaping it)."""
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _first_word_after(prefix):
    def done(out):
        text = out.decode(errors="replace")
        lines = [ln for ln in text.splitlines() if not ln.startswith("fastlstm:")]
        rest = " ".join(lines)
        at = rest.find(prefix)
        return at >= 0 and len(rest[at + len(prefix) :].split()) >= 1

    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=ROOT, help="checkout of fastlstm to run")
    ap.add_argument("--rounds", type=int, default=1, help="cold/warm pairs per command")
    args = ap.parse_args(argv)
    if not any((Path(args.repo) / d / "fastlstm").is_dir() for d in ("src", ".")):
        ap.error(f"--repo {args.repo}: no src/fastlstm (or fastlstm/, older checkouts) in it")
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")

    cli = [sys.executable, "-c", "from fastlstm.cli import main; raise SystemExit(main())"]
    commands = [("train attention --epochs 1 (first bar move)", "train", BAR_MOVED.search)]
    data = os.environ.get("FASTLSTM_DATA")
    weights = Path(data, "book-weights", "Rnnlm.pkl") if data else None
    start = "the meaning of life is"
    if weights is not None and weights.is_file():
        commands.append(("generate (first word)", "generate", _first_word_after(start)))
    else:
        print("generate: skipped (needs $FASTLSTM_DATA/book-weights/Rnnlm.pkl)")

    for label, kind, done in commands:
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="fastlstm-cold-") as tmp:
                env = dict(os.environ)
                env["PYTHONPATH"] = (
                    str(Path(args.repo) / "src")
                    + os.pathsep
                    + str(args.repo)
                    + os.pathsep
                    + env.get("PYTHONPATH", "")
                )
                env["FASTLSTM_NUMBA_CACHE"] = str(Path(tmp, "kernels"))
                env["NUMBA_CACHE_DIR"] = str(Path(tmp, "numba"))  # older checkouts
                if kind == "train":
                    cmd = [
                        *cli,
                        "train",
                        "attention",
                        "--epochs",
                        "1",
                        "--out",
                        str(Path(tmp, "run")),
                    ]
                else:
                    cmd = [*cli, "generate", "--checkpoint", str(weights), "--model", "rnnlm"]
                    cmd += ["--start", start]
                times = [_run_until(cmd, env, tmp, done) for _ in ("cold", "warm")]
            (cold, cold_cpu), (warm, warm_cpu) = times
            if cold is None or warm is None:
                print(f"{label:45s} failed", flush=True)
                continue
            print(
                f"{label:45s} cold {cold:5.1f} s ({cold_cpu:5.1f} s CPU)  "
                f"warm {warm:5.1f} s ({warm_cpu:5.1f} s CPU)  "
                f"compiling: {cold - warm:5.1f} s ({cold_cpu - warm_cpu:5.1f} s CPU)",
                flush=True,
            )


if __name__ == "__main__":
    main()
