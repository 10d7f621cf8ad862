"""Every benchmark, one after the other: `python -m bench` (full sizes, about an hour on two
cores the first time, when the data is generated) or `python -m bench --quick` (small sizes,
a few minutes). Each prints its figures as ratios against a baseline measured in the same run;
BENCHMARKS.md records them."""

from __future__ import annotations

import argparse
import subprocess
import sys

FULL = (
    ("bench.throughput", ()),  # 10k, 100k and 1M entries: growth
    ("bench.broadcast", ("--members", "10000")),
    ("bench.export", ("--rows", "1000000")),
    ("bench.stats", ("--entries", "200000", "--members", "20000")),  # 10× smaller
    ("bench.stats", ("--entries", "2000000", "--members", "200000")),
)
QUICK = (
    ("bench.throughput", ("--quick",)),
    ("bench.broadcast", ("--members", "600")),
    ("bench.export", ("--rows", "20000", "--repeat", "1")),
    ("bench.stats", ("--entries", "20000", "--members", "2000", "--runs", "50")),
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    options = parser.parse_args()
    failed = []
    for module, args in QUICK if options.quick else FULL:
        command = [sys.executable, "-m", module, *args]
        print(f"\n$ python -m {module} {' '.join(args)}", flush=True)
        if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 (our own modules)
            failed.append(module)
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
