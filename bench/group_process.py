"""Time one benchmark group in this process: ``python bench/group_process.py SPEC OUT``.

Run by :func:`conftest.interleave_in_process`: ``SPEC`` holds the pickled
:class:`conftest.Runners` of the group and the options of :func:`conftest.interleave`;
the runners are made here, warmed up (:func:`conftest.warm_up`) and interleaved, and
``{impl: [seconds, ...]}`` is pickled to ``OUT``.  The pickle comes from the benchmark's
own process, which wrote it a moment before into a private temporary folder.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # the benchmark modules, then `reference`

import conftest  # noqa: E402  (first: numba's pool, then PyTorch's threads, as under pytest)


def main(spec: str, out: str) -> None:
    make_runners, options = pickle.loads(Path(spec).read_bytes())
    runners = make_runners()
    conftest.warm_up(runners)
    times = conftest.interleave(runners, **options)
    Path(out).write_bytes(pickle.dumps(times))


if __name__ == "__main__":
    main(*sys.argv[1:])
