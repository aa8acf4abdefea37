"""Turn the benchmark suite's pytest-benchmark JSON into a markdown table.

Usage::

    python bench/report.py bench/results.json > bench/RESULTS.md
    python bench/report.py bench/results.json --stat median

One row per benchmark group: fastlstm and reference times, the speed-up, for
the LSTM groups the achieved GFLOPS as a fraction of the NumPy sgemm GFLOPS
measured in the same run, and the target with pass/fail.  Times are the
minimum over rounds by default (the least disturbed measurement on a shared
machine); ``--stat median`` uses medians instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

STATS = ("min", "median", "mean")

# (kernel, condition on the fastlstm entry's extra_info, kind, threshold, label);
# a label starting with ">" is a strict inequality
TARGETS = [
    ("lstm", lambda e: e.get("H") == 256, "sgemm_frac", 0.75, "≥75% of sgemm"),
    ("lstm", lambda e: e.get("H") == 650, "sgemm_frac", 0.80, "≥80% of sgemm"),
    ("lstm", None, "torch_speedup", 1.0, ">1× PyTorch"),
    ("embedding", None, "speedup", 10.0, "≥10× reference"),
    ("softmax", None, "speedup", 3.0, "≥3× reference"),
    ("attention", None, "speedup", 5.0, "≥5× reference"),
    ("train", None, "speedup", 3.0, "≥3× reference"),
    ("train", None, "torch_speedup", 1.2, "≥1.2× PyTorch"),
    ("generate", None, "speedup", 10.0, "≥10× reference"),
    ("eval", None, "speedup", 20.0, "≥20× reference"),
    (
        "eval",
        lambda e: e.get("model") == "AttentionSeq2seq" and e.get("questions") == 5000,
        "sgemm_frac",
        0.50,
        "≥50% of sgemm",
    ),
    ("eval1", None, "speedup", 5.0, "≥5× reference"),
]

KERNEL_ORDER = [
    "sgemm",
    "lstm",
    "embedding",
    "softmax",
    "attention",
    "train",
    "generate",
    "eval",
    "eval1",
]


def load(path) -> dict:
    """Read a pytest-benchmark JSON file.

    Raises
    ------
    ValueError
        If the file is not a pytest-benchmark result (no ``benchmarks`` list).
    """
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError(f"{path} is not a pytest-benchmark JSON file (no 'benchmarks' list)")
    return data


def _seconds(bench: dict, stat: str) -> float:
    """The ``stat`` time of one benchmark, scaled by ``extra_info['time_scale']`` if present."""
    return bench["stats"][stat] * float(bench.get("extra_info", {}).get("time_scale", 1.0))


def _groups(data: dict) -> dict:
    """``{group: {impl: benchmark}}`` in the order of :data:`KERNEL_ORDER`, then by name."""
    groups = {}
    for bench in data["benchmarks"]:
        impl = bench.get("extra_info", {}).get("impl")
        if impl is None:
            continue
        groups.setdefault(bench.get("group") or bench["name"], {})[impl] = bench

    def key(item):
        kernel = next(iter(item[1].values()))["extra_info"].get("kernel", "")
        rank = KERNEL_ORDER.index(kernel) if kernel in KERNEL_ORDER else len(KERNEL_ORDER)
        return rank, item[0]

    return dict(sorted(groups.items(), key=key))


def sgemm_gflops(data: dict, stat: str = "min") -> float | None:
    """GFLOPS of the sgemm benchmark of the run (its ``stat`` time), else the fixture's value."""
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info", {})
        if extra.get("kernel") == "sgemm" and extra.get("flops"):
            return extra["flops"] / bench["stats"][stat] / 1e9
    for bench in data["benchmarks"]:
        value = bench.get("extra_info", {}).get("sgemm_gflops")
        if value:
            return float(value)
    return None


def _targets(kernel: str, extra: dict):
    return [
        (kind, threshold, label)
        for k, cond, kind, threshold, label in TARGETS
        if k == kernel and (cond is None or cond(extra))
    ]


def _verdict(value, threshold, label):
    if value is None:
        return "—"
    ok = value > threshold if label.startswith(">") else value >= threshold
    return "pass" if ok else "FAIL"


def _check_text(extra: dict) -> str:
    parts = []
    if "max_rel_err" in extra:
        parts.append(f"rel err {extra['max_rel_err']:.1e}")
    if extra.get("torch_max_rel_err") is not None:
        parts.append(f"PyTorch {extra['torch_max_rel_err']:.1e}")
    if "same_words_frac" in extra:
        parts.append(f"words equal {extra['same_words_frac']:.0%}")
    if "same_answers_frac" in extra:
        parts.append(f"answers equal {extra['same_answers_frac']:.1%}")
    return ", ".join(parts) or "—"


def rows(data: dict, stat: str = "min") -> list[dict]:
    """One summary per group: times, speed-up, GFLOPS, target and verdict.

    Parameters
    ----------
    data : dict
        The parsed JSON.
    stat : {"min", "median", "mean"}
        Which statistic of the rounds to use.
    """
    if stat not in STATS:
        raise ValueError(f"stat must be one of {STATS}, got {stat!r}")
    yardstick = sgemm_gflops(data, stat)
    out = []
    for group, impls in _groups(data).items():
        fast, ref = impls.get("fastlstm"), impls.get("reference")
        pt = impls.get("pytorch")
        main = fast or next(iter(impls.values()))
        extra = main.get("extra_info", {})
        kernel = extra.get("kernel", "")
        row = {"group": group, "kernel": kernel, "check": _check_text(extra)}
        row["fast_ms"] = _seconds(fast, stat) * 1e3 if fast else None
        row["ref_ms"] = _seconds(ref, stat) * 1e3 if ref else None
        row["torch_ms"] = _seconds(pt, stat) * 1e3 if pt else None
        ref_extra = ref.get("extra_info", {}) if ref else {}
        row["ref_note"] = (
            f"timed on {ref_extra.get('questions_timed', '?')} of "
            f"{ref_extra.get('questions', '?')} questions, scaled ×{ref_extra['time_scale']:g}"
            if ref_extra.get("time_scale", 1) != 1
            else ""
        )
        if kernel == "sgemm":
            continue  # the yardstick is shown in the header
        row["speedup"] = row["ref_ms"] / row["fast_ms"] if fast and ref else None
        row["torch_speedup"] = row["torch_ms"] / row["fast_ms"] if fast and pt else None
        flops = extra.get("flops")
        gflops = flops / (row["fast_ms"] / 1e3) / 1e9 if flops and row["fast_ms"] else None
        row["gflops"] = gflops
        # the sgemm rate measured in the group's own interleaved rounds, where there is one
        stick = extra.get("sgemm_gflops_interleaved") or yardstick
        row["stick"] = extra.get("sgemm_gflops_interleaved")
        row["sgemm_frac"] = gflops / stick if gflops and stick else None
        row["torch_sgemm_frac"] = (
            flops / (row["torch_ms"] / 1e3) / 1e9 / stick
            if flops and stick and row["torch_ms"]
            else None
        )
        # speed-up fastlstm would reach if every product ran at sgemm speed
        row["ceiling"] = (
            row["ref_ms"] / (flops / yardstick / 1e6) if flops and yardstick and ref else None
        )
        per_word = extra.get("weight_bytes_per_word")
        row["stream_gbs"] = {
            impl: per_word * b["extra_info"]["words"] / _seconds(b, stat) / 1e9
            for impl, b in impls.items()
            if per_word and "words" in b.get("extra_info", {})
        }
        targets = _targets(kernel, extra)
        # what a PyTorch target asks: the share of the sgemm rate the products alone
        # would need for fastlstm to take PyTorch's time divided by the factor
        torch_target = next((t for t in targets if t[0] == "torch_speedup"), None)
        row["torch_target"] = torch_target
        row["needed_frac"] = (
            flops / (row["torch_ms"] / torch_target[1] / 1e3) / 1e9 / stick
            if torch_target and flops and stick and row["torch_ms"]
            else None
        )
        row["target"] = ", ".join(label for _, _, label in targets)
        row["verdict"] = ", ".join(_verdict(row[kind], th, label) for kind, th, label in targets)
        out.append(row)
    return out


def _fmt(value, spec, empty="—"):
    return empty if value is None else format(value, spec)


def _vector_line(mine: dict) -> str:
    """The CPU's vector instructions and the width the packed kernel was built for."""
    isa = mine.get("vector_isa")
    if isa is None:
        return "Vector width: not recorded (a run older than the vector-width record)."
    width = mine.get("vector_bytes")
    line = f"Vector width: {isa}" + (" with FMA" if mine.get("fma") else "")
    if mine.get("llvm_cpu"):
        line += f" (LLVM CPU {mine['llvm_cpu']})"
    if mine.get("numba_cpu"):
        features = mine.get("numba_cpu_features")
        line += f"; kernels compiled for CPU {mine['numba_cpu']}" + (
            f" with features {features!r}" if features is not None else ""
        )
    if width:
        line += (
            f"; packed kernel built for {8 * width}-bit vectors: panels of "
            f"{mine.get('panel_width_float32', '?')} float32, tiles of up to "
            f"{mine.get('tile_rows', '?')} rows"
        )
    return line + "."


def _allocator_line(mine: dict) -> str:
    """Under which of the C library's allocator settings the run was timed."""
    env = mine.get("allocator_env")
    if env is None:
        return "Memory allocator: settings not recorded (a run older than their record)."
    if not env:
        return "Memory allocator: the C library's defaults (no `MALLOC_*` or `GLIBC_TUNABLES` set)."
    return "Memory allocator: " + ", ".join(f"`{k}={v}`" for k, v in env.items()) + "."


def _header(data: dict, stat: str) -> list[str]:
    info = data.get("machine_info", {})
    mine = info.get("fastlstm_bench", {})
    cpu = (
        mine.get("cpu_model")
        or info.get("cpu", {}).get("brand_raw")
        or info.get("processor")
        or "unknown CPU"
    )
    loads = [
        b["extra_info"]["loadavg_1min"]
        for b in data["benchmarks"]
        if "loadavg_1min" in b.get("extra_info", {})
    ]
    yardstick = sgemm_gflops(data, stat)
    sgemm_ms = [
        b["stats"][stat] * 1e3
        for b in data["benchmarks"]
        if b.get("extra_info", {}).get("kernel") == "sgemm"
    ]
    lines = [
        "# fastlstm benchmark results",
        "",
        f"Machine: {mine.get('cpu_count', '?')} CPUs ({cpu}), Python {info.get('python_version', '?')}, "
        f"numpy {mine.get('numpy', '?')}, numba {mine.get('numba', '?')}, "
        f"scipy {mine.get('scipy', '?')}, numba threads {mine.get('numba_threads', '?')} "
        f"(on {mine.get('numba_threading_layer', '?')}), "
        f"PyTorch {mine.get('torch') or 'not installed'}"
        + (f" ({mine['torch_threads']} threads)." if mine.get("torch_threads") else "."),
        "",
        _vector_line(mine),
        "",
        "The kernels' matrix products: "
        + (mine.get("kernels_blas") or "BLAS not recorded (a run older than its record)")
        + ".",
        "",
        _allocator_line(mine),
        "",
        "Yardstick: one 2048×2048×2048 float32 NumPy matmul"
        + (f" in {sgemm_ms[0]:.1f} ms" if sgemm_ms else "")
        + f" = **{_fmt(yardstick, '.1f')} GFLOPS** (sgemm).",
        "",
        f"Run {data.get('datetime', '?')}; times are the **{stat}** over rounds "
        "(forward + backward for layers, one iteration for training); "
        "*ref / fast* = reference / fastlstm, *PyTorch / fast* = PyTorch / fastlstm (above 1: fastlstm is faster).",
    ]
    if loads:
        lines.append(
            f"1-minute load average before the measurements: {min(loads):.2f} to {max(loads):.2f}"
            + (
                " (the machine was busy with other work: expect noise)."
                if max(loads) > 1.5 * (mine.get("cpu_count") or 1)
                else "."
            )
        )
    return lines


def _memory(data: dict) -> list[str]:
    lines = []
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info", {})
        if "tracemalloc_peak_mb" in extra:
            lines.append(
                f"| {extra.get('model', bench['name'])} | {extra['impl']} | "
                f"{extra['tracemalloc_peak_mb']:.1f} | {extra.get('param_mb', float('nan')):.1f} |"
            )
    if not lines:
        return []
    return [
        "",
        "## Memory of one training iteration",
        "",
        "tracemalloc peak of the memory allocated during one iteration (NumPy arrays; "
        "buffers allocated inside numba kernels are not traced), parameters for scale.",
        "",
        "| model | impl | peak MiB | params MiB |",
        "| --- | --- | ---: | ---: |",
        *sorted(lines),
    ]


def _times(value, spec=".1f"):
    return "—" if value is None else format(value, spec) + "×"


def _asks(summary: list) -> list[str]:
    """What each PyTorch target asks of fastlstm's matrix products, as a share of sgemm."""
    asked = [r for r in summary if r.get("needed_frac")]
    if not asked:
        return []
    lines = [
        "",
        "## What the PyTorch targets ask",
        "",
        "To be *k*× faster than PyTorch, fastlstm must take PyTorch's time / *k*. Its matrix "
        "products alone (the same products in both; every other part of an iteration "
        "counted as free) would then have to run at *needed* of the sgemm rate of this run.",
        "",
        "| group | target | PyTorch of sgemm | fastlstm of sgemm | needed | met |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in asked:
        _, factor, label = r["torch_target"]
        met = _verdict(r["torch_speedup"], factor, label) == "pass"
        lines.append(
            f"| {r['group']} | {factor:g}× | {_fmt(r['torch_sgemm_frac'], '.0%')} | "
            f"{_fmt(r['sgemm_frac'], '.0%')} | {_fmt(r['needed_frac'], '.0%')} | "
            f"{'yes' if met else 'no'} |"
        )
    return lines


def render(data: dict, stat: str = "min") -> str:
    """The markdown report of a parsed pytest-benchmark JSON."""
    lines = _header(data, stat)
    lines += [
        "",
        "| group | fastlstm ms | reference ms | PyTorch ms | ref / fast | PyTorch / fast "
        "| GFLOPS | of sgemm | PyTorch of sgemm | ceiling | targets | result | check |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    notes = []
    streams = []
    summary = rows(data, stat)
    for r in summary:
        ref = _fmt(r["ref_ms"], ".1f")
        if r["ref_note"]:
            ref += " *"
            notes.append(f"\\* {r['group']}: reference {r['ref_note']}.")
        lines.append(
            f"| {r['group']} | {_fmt(r['fast_ms'], '.2f')} | {ref} | {_fmt(r['torch_ms'], '.2f')} | "
            f"{_times(r['speedup'])} | {_times(r['torch_speedup'], '.2f')} | "
            f"{_fmt(r['gflops'], '.1f')} | {_fmt(r['sgemm_frac'], '.0%')} | "
            f"{_fmt(r['torch_sgemm_frac'], '.0%')} | {_times(r['ceiling'])} | "
            f"{r['target']} | {r['verdict']} | {r['check']} |"
        )
        if r["stream_gbs"]:
            rates = ", ".join(f"{k} {v:.1f} GB/s" for k, v in sorted(r["stream_gbs"].items()))
            streams.append(f"{r['group']}: weights read per word at {rates}.")
    lines += [
        "",
        "GFLOPS count matrix products only (forward, dW and dx), for fastlstm; *of sgemm* is that "
        "rate over the sgemm rate of this run (PyTorch's too, for the same flops); *ceiling* is "
        "the speed-up over the reference fastlstm would reach if all products ran at the sgemm rate. "
        "PyTorch runs the same model, built from the same weights by `fastlstm.interop`, "
        "with as many threads as numba; rounds of the implementations are interleaved.",
    ]
    own = {b["group"] for b in data["benchmarks"] if b.get("extra_info", {}).get("group_process")}
    if own:
        every = own == {
            b["group"]
            for b in data["benchmarks"]
            if b.get("extra_info", {}).get("timing") == "interleaved"
        }
        lines += [
            ("Every group" if every else "The groups " + ", ".join(sorted(own)))
            + " ran in a fresh Python process of its own (warmed up first), so that no group's "
            "times depend on the groups before it (the allocator's state among them)."
        ]
    settle = sorted(
        {b["group"] for b in data["benchmarks"] if b.get("extra_info", {}).get("settle_calls")}
    )
    if settle:
        lines += [
            "Each timed call follows a garbage collection and a pause; in the groups "
            + ", ".join(settle)
            + " untimed calls come between them (one at least, for 30 ms at least), so that the "
            "timed one runs with warm caches and awake threads, as in a training loop."
        ]
    sticks = [f"{r['group']}: {r['stick']:.1f}" for r in summary if r.get("stick")]
    if sticks:
        lines += [
            "For the LSTM and training groups the 2048³ sgemm also ran in the group's "
            "interleaved rounds, and *of sgemm* uses that rate (GFLOPS): " + "; ".join(sticks) + "."
        ]
    if streams:
        lines += ["Generation reads every weight once per word: " + " ".join(streams)]
    if notes:
        lines += [""] + sorted(set(notes))
    lines += _asks(summary)
    lines += _memory(data)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--stat", choices=STATS, default="min", help="statistic of the rounds")
    args = parser.parse_args(argv)
    try:
        data = load(args.json)
    except (OSError, ValueError) as exc:
        print(f"report.py: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(data, args.stat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
