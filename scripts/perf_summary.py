#!/usr/bin/env python3
"""Where a benchmark model's training step spends its CPU time, from `perf script` output
with call chains (scripts/profile-bench.sh runs both).

    perf script -F tid,ip,sym -i FILE | python3 scripts/perf_summary.py [--top N]

Counts the samples of the training loop (the timed loop, `fit`'s warm-up, and the rayon
workers they start; not the setup), and splits them three ways: by thread (the main
thread runs everything single-threaded, the rayon workers the parallel kernels), by what
ran (typenet's kernels, the gemm crate, dfdx's elementwise / reduction / optimizer code by
op, memset / memcpy, malloc, the kernel's page faults, ...), and the top leaf functions.
dfdx's op names are only in the symbols of a binary built with v0 symbol mangling.
"""

import argparse
import collections
import re
import sys

KERNEL_ADDR = 0xFFFF800000000000


def samples(lines):
    """(tid, [(addr, symbol, inlined), ...] leaf first) per sample."""
    tid, frames = None, []
    for line in lines:
        if not line.strip():
            if tid is not None:
                yield tid, frames
            tid, frames = None, []
        elif not line[0].isspace() or tid is None:
            tid, frames = line.split()[0], []
        else:
            parts = line.strip().split(None, 1)
            addr = int(parts[0], 16) if re.fullmatch(r"[0-9a-f]+", parts[0]) else 0
            sym = parts[1] if len(parts) > 1 else "[unknown]"
            inlined = sym.endswith(" (inlined)")
            frames.append((addr, sym.removesuffix(" (inlined)"), inlined))
    if tid is not None:
        yield tid, frames


def phase(frames):
    """Which part of the run a sample belongs to (None: setup, not counted)."""
    syms = [f[1] for f in frames]
    if any("bench::step::Trainer" in s for s in syms):
        where = "timed loop"
    elif any("typenet::train::fit::fit" in s for s in syms):
        where = "fit warm-up"
    elif any("rayon_core::registry" in s for s in syms):
        return "rayon workers"
    else:
        return None
    for s in syms:  # leaf first: the innermost step the sample is in
        if "zero_grads" in s:
            return f"main: zero grads ({where})"
        if re.search(r"Optimizer|optim::", s) and "update" in s:
            return f"main: optimizer update ({where})"
        if "Backward" in s and "try_backward" in s:
            return f"main: backward ({where})"
        if "weighted_loss" in s:
            return f"main: loss ({where})"
        if "try_forward_logits_mut" in s:
            return f"main: forward ({where})"
        if "Dataset" in s and "batch" in s:
            return f"main: batch gather ({where})"
    return f"main: other ({where})"


def op_name(sym):
    """dfdx's op in a v0-mangled symbol (`dfdx::tensor_ops::mul::BinaryMulKernelOp`)."""
    ops = re.findall(r"dfdx::tensor_ops::(\w+)::(\w+?)(?:KernelOp|Op)\b", sym)
    if ops:
        return ops[-1][1]
    m = re.search(r"dfdx::tensor_ops::(\w+)::", sym)
    return m.group(1) if m else "?"


def kind(frames):
    """What ran, from the leaf up."""
    kernel = [s for a, s, _ in frames if a >= KERNEL_ADDR]
    if kernel:
        ks = " ".join(kernel)
        if re.search(r"page_fault|clear_page|do_anonymous_page", ks):
            return "kernel: page faults (fresh pages)"
        if re.search(r"munmap|unmap_|tlb", ks):
            return "kernel: munmap / TLB"
        if re.search(r"futex|schedule|sched_", ks):
            return "kernel: thread sleep / wake"
        return "kernel: other"
    for _, s, _ in frames:
        if re.search(r"__mem(set|cpy|move)", s) or s in ("memset", "memcpy", "memmove"):
            return "libc memset" if "memset" in s else "libc memcpy / memmove"
        if re.search(r"\b(malloc|free|cfree|calloc|realloc)\b|_int_(malloc|free)|sysmalloc", s):
            return "malloc / free"
        if re.search(r"\bgemm_(f32|common)|\bgemm::", s):
            return "gemm crate (dfdx matmul, typenet im2col conv)"
        if s.startswith("typenet::") or s.startswith("<typenet::"):
            if "typenet::train" in s or "typenet::data" in s:
                continue
            name = re.sub(r"<.*", "", s).split("::")
            return "typenet kernel: " + "::".join(name[-2:])
        if "dfdx::optim" in s:
            return "dfdx optimizer (Adam)"
        if "dfdx::" in s:
            if re.search(r"sum_to|max_to|min_to|Reduce|reduction", s):
                return f"dfdx reduction: {op_name(s)}"
            if re.search(r"UnaryKernel|BinaryKernel|cpu_kernels", s):
                return f"dfdx elementwise: {op_name(s)}"
            if re.search(r"Fill|fill_with|to_dtype|copy|tensor_from|alloc|zeros|ones", s):
                return "dfdx fill / copy / alloc"
            return f"dfdx other: {op_name(s)}"
        if re.search(r"rayon_core|crossbeam|std::sync|std::sys::sync|parking", s):
            return "thread sync (rayon)"
        if re.search(r"^(expf|tanhf|logf|exp|log|tanh|__\w*(exp|log|tanh)\w*)$", s):
            return "libm"
    return "other: " + (frames[0][1][:60] if frames else "?")


def leaf(frames):
    """The innermost function that was not inlined (the kernel's, or user space's)."""
    if frames[0][0] >= KERNEL_ADDR:
        return "[kernel] " + frames[0][1]
    return next((s for _, s, inl in frames if not inl), frames[0][1])


def short(sym, width=110):
    """Without module paths (`dfdx::tensor_ops::...::`): types and function names stay."""
    sym = re.sub(r"\s+", " ", re.sub(r"\b(?:[a-z_][a-z0-9_]*::)+", "", sym))
    return sym if len(sym) <= width else sym[: width - 3] + "..."


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--top", type=int, default=12, help="leaf functions to list")
    args = p.parse_args()
    phases, kinds, leaves = collections.Counter(), collections.Counter(), collections.Counter()
    total = 0
    for _, frames in samples(sys.stdin):
        ph = phase(frames)
        if ph is None or not frames:
            continue
        total += 1
        phases[ph] += 1
        kinds[kind(frames)] += 1
        leaves[leaf(frames)] += 1
    if total == 0:
        print("no training samples found (is this `perf script` of bench --worker?)")
        return 1
    pct = lambda n: f"{100.0 * n / total:5.1f}%"  # noqa: E731
    print(f"{total} samples in the training loop (cpu-clock; setup excluded)")
    print("by thread / phase:")
    for name, n in sorted(phases.items(), key=lambda kv: -kv[1]):
        print(f"  {pct(n)}  {name}")
    print("by what ran:")
    for name, n in kinds.most_common():
        if 100.0 * n / total >= 0.3:
            print(f"  {pct(n)}  {name}")
    print(f"top {args.top} functions (self time, inlined code counted in its caller):")
    for name, n in leaves.most_common(args.top):
        print(f"  {pct(n)}  {short(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
