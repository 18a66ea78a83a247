"""Dask's own Python client against a running scheduler: the reference side of the Dask
benchmark (bench/ compares our TypeScript client with these figures, measured in the same
run on the same cluster).

    python3 bench/dask-python.py tcp://127.0.0.1:PORT SCENARIO [--n N] [--warm-maps W] [--repeat R]

Use the cluster's interpreter: /usr/bin/python3 for Dask 2022.12, the trixie root's
(`chroot ROOT /usr/bin/python3 - ADDRESS SCENARIO < bench/dask-python.py`) for 2024.12.
Prints one JSON object. Scenarios:

    map          client.map of N trivial tasks + gather: wall time, client process CPU time
                 (after W untimed maps of N, default 1: as many as the Node clients run;
                 the median of R timed maps with --repeat R, default 1)
    submit-loop  N one-by-one client.submit calls: time per submit call, then until all done
    roundtrip    one submit -> result round trip, median (and p90) over N (default 50)
    gather       gather of N (default 1000) keys already in memory
    release      N (default 10000) futures in memory, then `del` (which releases them):
                 time until the scheduler has no tasks and every worker's data is empty
    all          every scenario above with its default N

Tasks are `operator.add(i, 1)` with pure=False, so every key is distinct. Each scenario
releases what it made and waits for an empty cluster before it returns.

Emptiness is observed by the same client: `run_on_scheduler` / `run` of coroutines that
poll `len(dask_scheduler.tasks)` / `len(dask_worker.data)` every 1 ms inside the scheduler
and worker processes, so the figure includes one RPC round trip to each (about 1 ms here)
but no polling from outside.
"""

import argparse
import json
import operator
import statistics
import statistics
import sys
import time

from distributed import Client, wait

DEFAULT_N = {"map": 10_000, "submit-loop": 1_000, "roundtrip": 50, "gather": 1_000, "release": 10_000}


async def _scheduler_empty(dask_scheduler, timeout):
    import asyncio
    import time as t

    deadline = t.monotonic() + timeout
    while dask_scheduler.tasks and t.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return len(dask_scheduler.tasks)


async def _worker_empty(dask_worker, timeout):
    import asyncio
    import time as t

    deadline = t.monotonic() + timeout
    while len(dask_worker.data) and t.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return len(dask_worker.data)


def wait_empty(client, timeout=60.0):
    """Blocks until the scheduler holds no task and no worker holds data."""
    left = client.run_on_scheduler(_scheduler_empty, timeout=timeout)
    data = client.run(_worker_empty, timeout=timeout)
    if left or any(data.values()):
        raise RuntimeError(f"cluster not empty after {timeout} s: {left} tasks, data {data}")


WARM_MAPS = 1
REPEAT = 1


def scenario_map(client, n):
    # Untimed maps of the same size first, as many as the two Node clients run to warm their JIT.
    for _ in range(WARM_MAPS):
        warm = client.map(operator.add, range(n), [1] * n, pure=False)
        client.gather(warm)
        del warm
        wait_empty(client)
    # REPEAT timed maps, the median of each figure reported (as the Node clients do).
    walls, cpus = [], []
    for _ in range(REPEAT):
        t0, c0 = time.perf_counter(), time.process_time()
        futures = client.map(operator.add, range(n), [1] * n, pure=False)
        values = client.gather(futures)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        assert values[-1] == n
        del futures, values
        wait_empty(client)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {"n": n, "wall_s": wall, "cpu_s": cpu, "tasks_per_s": n / wall, "walls_s": walls, "cpus_s": cpus}


def scenario_submit_loop(client, n):
    futures = []
    t0 = time.perf_counter()
    for i in range(n):
        futures.append(client.submit(operator.add, i, 1, pure=False))
    submitted = time.perf_counter() - t0
    wait(futures)
    done = time.perf_counter() - t0
    del futures
    wait_empty(client)
    return {"n": n, "submit_us_each": submitted / n * 1e6, "all_done_s": done, "tasks_per_s": n / done}


def scenario_roundtrip(client, n):
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        f = client.submit(operator.add, i, 1, pure=False)
        f.result()
        times.append(time.perf_counter() - t0)
        del f
    wait_empty(client)
    times.sort()
    return {
        "n": n,
        "median_ms": statistics.median(times) * 1e3,
        "p90_ms": times[int(0.9 * (n - 1))] * 1e3,
        "min_ms": times[0] * 1e3,
    }


def scenario_gather(client, n):
    futures = client.map(operator.add, range(n), [1] * n, pure=False)
    wait(futures)
    t0 = time.perf_counter()
    values = client.gather(futures)
    wall = time.perf_counter() - t0
    assert len(values) == n
    del futures, values
    wait_empty(client)
    return {"n": n, "gather_ms": wall * 1e3}


def scenario_release(client, n):
    futures = client.map(operator.add, range(n), [1] * n, pure=False)
    wait(futures)
    t0 = time.perf_counter()
    del futures  # the last reference: each Future's __del__ releases its key
    wait_empty(client)
    return {"n": n, "release_to_empty_ms": (time.perf_counter() - t0) * 1e3}


SCENARIOS = {
    "map": scenario_map,
    "submit-loop": scenario_submit_loop,
    "roundtrip": scenario_roundtrip,
    "gather": scenario_gather,
    "release": scenario_release,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--warm-maps", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    global WARM_MAPS, REPEAT
    WARM_MAPS = args.warm_maps
    REPEAT = max(1, args.repeat)
    import distributed

    client = Client(args.address, timeout=30)  # default client: `wait` needs one
    try:
        # Warm-up: connections to the scheduler and worker exist before anything is timed.
        client.submit(operator.add, 0, 1, pure=False).result()
        wait_empty(client)
        names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
        results = {name: SCENARIOS[name](client, args.n or DEFAULT_N[name]) for name in names}
        out = {
            "client": "python",
            "distributed": distributed.__version__,
            "python": sys.version.split()[0],
            "workers": len(client.scheduler_info()["workers"]),
            **(results if args.scenario == "all" else {"scenario": args.scenario, **results[args.scenario]}),
        }
        print(json.dumps(out))
    finally:
        client.close()


if __name__ == "__main__":
    main()
