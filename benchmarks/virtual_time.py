"""What time skipping costs: the user-lifecycle example's 7-day trial, in real time.

In the same run it times, through the test harness on moto, the example with its 7-day
sleep skipped by the virtual clock (a Scheduler schedule, fired by the pump) against the
same example with `disable_sleeps()` (no schedule at all). It prints the real time of
each, the ratio between them, and how many virtual seconds pass per real second.

    python -m benchmarks.virtual_time [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from lambda_workflows import load_app
from lambda_workflows.testing import WorkflowTestEnv

PARAMS = {"user_id": "u1", "email": "ada@example.com"}


def _run(skip_sleeps: bool) -> tuple[float, float]:
    """Real seconds to completion (env start excluded), virtual seconds that passed."""
    with WorkflowTestEnv(load_app()) as env:
        start = env.now()
        with env.introspect("user-lifecycle", "u1") as i:
            if skip_sleeps:
                i.disable_sleeps()
            began = time.perf_counter()
            env.binding("user-lifecycle").create(id="u1", params=PARAMS)
            i.wait_for_status("complete")
            real = time.perf_counter() - began
        return real, (env.now() - start).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    _run(True)  # warm imports and moto
    skipped, virtual = zip(*(_run(False) for _ in range(args.repeat)), strict=True)
    disabled = [_run(True)[0] for _ in range(args.repeat)]
    t_skip, t_disabled = statistics.median(skipped), statistics.median(disabled)
    print(f"{'run':<28} {'real ms':>9} {'virtual':>12}")
    print(f"{'7-day sleep, time skipped':<28} {t_skip * 1000:>9.1f} {virtual[0] / 86400:>10.2f} d")
    print(f"{'sleeps disabled (baseline)':<28} {t_disabled * 1000:>9.1f} {0:>10.2f} d")
    print(f"ratio skipped / baseline: {t_skip / t_disabled:.2f}")
    print(f"virtual seconds per real second: {virtual[0] / t_skip:,.0f}")


if __name__ == "__main__":
    main()
