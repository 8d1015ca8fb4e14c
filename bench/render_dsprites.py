"""Render dSprites (Matthey et al. 2017) from scratch and from the cache; print a table.

    python bench/render_dsprites.py

Uses a temporary UNTWINE_HOME, so the user's cache is neither read nor written. Peak RSS is
the whole process (interpreter and imports included), so the table also shows it before
rendering. CPU time is shown beside wall time because on a shared machine the wall time
mostly measures the neighbours.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1e6 if sys.platform == "darwin" else 1e3)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="untwine-bench-") as home:
        os.environ["UNTWINE_HOME"] = home
        from untwine.data import dsprites

        rss_before = peak_rss_mb()
        start, start_cpu = time.perf_counter(), cpu_seconds()
        packed = dsprites.render_all()
        render_s = time.perf_counter() - start
        render_cpu = cpu_seconds() - start_cpu
        rss_render = peak_rss_mb()
        del packed

        first = dsprites.load_dsprites()  # renders again and writes the cache
        del first
        start = time.perf_counter()
        data = dsprites.load_dsprites()
        cache_s = time.perf_counter() - start

        rows = [
            ("full render, wall (s)", f"{render_s:.2f}"),
            ("full render, CPU (s)", f"{render_cpu:.2f}"),
            ("images / s", f"{len(data) / render_s:,.0f}"),
            ("packed bytes in memory", f"{data.nbytes:,}"),
            ("peak RSS before rendering (MB)", f"{rss_before:.0f}"),
            ("peak RSS after rendering (MB)", f"{rss_render:.0f}"),
            ("cache load (s)", f"{cache_s:.2f}"),
        ]
        width = max(len(name) for name, _ in rows)
        print(f"dSprites, {len(data):,} images, cores: {os.cpu_count()}")
        for name, value in rows:
            print(f"{name:<{width}}  {value:>14}")


if __name__ == "__main__":
    main()
