"""Dask with its scheduler and worker inside the client's process: the reference for the
embedded scheduler. `Client(processes=False, n_workers=1, threads_per_worker=1)`, once with
default settings and once with `distributed.scheduler.worker-saturation: inf`.

    /usr/bin/python3 bench/dask-python-inproc.py [--n 10000] [--chain 2000]

Prints one JSON object. Per configuration:

    tasks        N trivial tasks (operator.add(i, 1), pure=False): client.map, wait, gather,
                 release (`del`) until empty; phase times and tasks/s over the whole cycle
    chain        a dependent chain of C links, each submitted on its own
                 (submit(add, previous, 1)), until the last result: microseconds per link
    release      N keys in memory, then `del` of every future until the worker holds no data
                 and the scheduler counts 0 bytes and no tasks (milliseconds)

"Empty" is read directly from the in-process Scheduler and Worker objects, polled every
0.2 ms from the main thread (they run on the cluster's event-loop thread).
"""

import argparse
import json
import operator
import sys
import time

import dask
from distributed import Client, wait


def empty(scheduler, worker):
    return (
        not scheduler.tasks
        and not len(worker.data)
        and sum(ws.nbytes for ws in scheduler.workers.values()) == 0
    )


def wait_empty(scheduler, worker, timeout=60.0):
    deadline = time.perf_counter() + timeout
    while not empty(scheduler, worker):
        if time.perf_counter() > deadline:
            raise RuntimeError(f"not empty after {timeout} s: {len(scheduler.tasks)} tasks, {len(worker.data)} data")
        time.sleep(0.0002)


def tasks(client, scheduler, worker, n):
    t0 = time.perf_counter()
    futures = client.map(operator.add, range(n), [1] * n, pure=False)
    t1 = time.perf_counter()
    wait(futures)
    t2 = time.perf_counter()
    values = client.gather(futures)
    t3 = time.perf_counter()
    assert values[-1] == n
    del futures, values
    wait_empty(scheduler, worker)
    t4 = time.perf_counter()
    return {
        "n": n,
        "submit_s": t1 - t0,
        "compute_s": t2 - t1,
        "gather_s": t3 - t2,
        "release_s": t4 - t3,
        "total_s": t4 - t0,
        "tasks_per_s": n / (t4 - t0),
    }


def chain(client, scheduler, worker, links):
    t0 = time.perf_counter()
    f = client.submit(operator.add, 0, 1, pure=False)
    for _ in range(links - 1):
        f = client.submit(operator.add, f, 1, pure=False)
    value = f.result()
    wall = time.perf_counter() - t0
    assert value == links
    del f
    wait_empty(scheduler, worker)
    return {"links": links, "total_s": wall, "us_per_link": wall / links * 1e6}


def release(client, scheduler, worker, n):
    futures = client.map(operator.add, range(n), [1] * n, pure=False)
    wait(futures)
    held = sum(ws.nbytes for ws in scheduler.workers.values())
    t0 = time.perf_counter()
    del futures  # the last reference: each Future's __del__ releases its key
    wait_empty(scheduler, worker)
    return {"n": n, "bytes_before": held, "release_to_zero_ms": (time.perf_counter() - t0) * 1e3}


def run(config, n, links):
    with dask.config.set(config):
        t0 = time.perf_counter()
        client = Client(
            processes=False,
            n_workers=1,
            threads_per_worker=1,
            # The HTTP servers (dashboard, /health) start anyway; keep them on loopback.
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
        )
        started = time.perf_counter() - t0
        try:
            scheduler = client.cluster.scheduler
            (worker,) = client.cluster.workers.values()
            client.submit(operator.add, 0, 1, pure=False).result()  # warm-up
            wait_empty(scheduler, worker)
            return {
                "worker_saturation": str(scheduler.WORKER_SATURATION),
                "start_s": started,
                "tasks": tasks(client, scheduler, worker, n),
                "chain": chain(client, scheduler, worker, links),
                "release": release(client, scheduler, worker, n),
            }
        finally:
            client.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=2_000)
    args = parser.parse_args()
    import distributed

    print(
        json.dumps(
            {
                "client": "python-inproc",
                "distributed": distributed.__version__,
                "python": sys.version.split()[0],
                "default": run({}, args.n, args.chain),
                "saturation_inf": run({"distributed.scheduler.worker-saturation": "inf"}, args.n, args.chain),
            }
        )
    )


if __name__ == "__main__":
    main()
