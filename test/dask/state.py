"""Observer of a test Dask cluster, for test/dask/cluster.ts.

Run with the cluster's own interpreter (/usr/bin/python3, or the trixie root's through
chroot); cluster.ts passes this file's text with `python3 -c`, so it also works inside the
chroot, which cannot see the repository.

    state.py serve ADDRESS   one JSON request per stdin line ({"id": n, "cmd": "state"}),
                             one JSON reply per stdout line ({"id", "ok", "value" | "error"})
    state.py state ADDRESS   print the state once
    state.py py ADDRESS      exec the Python code read from stdin with `client`, `address`
                             and `json` in scope; the code prints JSON, or sets `result`

The observer's Client never submits, scatters or gathers, so it holds no keys; its own id
and the scheduler's built-in "fire-and-forget" pseudo-client are left out of `clients`.
The `py` snippet may do anything; its keys go when its process exits.
"""

import json
import sys

from distributed import Client


def _key(key):
    # 2024.12 keys may be tuples or ints on the scheduler; report them as str() like Dask does.
    return key if isinstance(key, str) else str(key)


def _scheduler_view(dask_scheduler, observer):
    tasks = {
        _key(key): {
            "state": ts.state,
            "who_wants": sorted(cs.client_key for cs in ts.who_wants),
        }
        for key, ts in dask_scheduler.tasks.items()
    }
    clients = sorted(
        c for c in dask_scheduler.clients if c != observer and c != "fire-and-forget"
    )
    return {"tasks": tasks, "clients": clients}


def state(client):
    view = client.run_on_scheduler(_scheduler_view, observer=client.id)
    # The `keys` RPC (Worker.keys: the keys in `data`) is answered by Python and Node
    # workers alike; `Client.run` is not (a Node worker runs no Python).
    keys = client.sync(client.scheduler.broadcast, msg={"op": "keys"})
    view["workerData"] = {addr: sorted(_key(k) for k in ks) for addr, ks in keys.items()}
    return view


def connect(address):
    return Client(address, set_as_default=False, timeout=20)


def serve(address):
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the reply stream
    client = connect(address)
    out.write(json.dumps({"id": 0, "ok": True, "value": "ready"}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            if request["cmd"] == "state":
                reply = {"id": request["id"], "ok": True, "value": state(client)}
            else:
                raise ValueError("unknown command " + repr(request["cmd"]))
        except Exception as e:  # reported to the caller, the server keeps going
            reply = {"id": request["id"], "ok": False, "error": repr(e)}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    client.close()


def run_snippet(address, code):
    client = connect(address)
    scope = {"client": client, "address": address, "json": json}
    try:
        exec(compile(code, "<py snippet>", "exec"), scope)
        if "result" in scope:
            print(json.dumps(scope["result"]))
    finally:
        client.close()


def main():
    cmd, address = sys.argv[1], sys.argv[2]
    if cmd == "serve":
        serve(address)
    elif cmd == "state":
        client = connect(address)
        print(json.dumps(state(client)))
        client.close()
    elif cmd == "py":
        run_snippet(address, sys.stdin.read())
    else:
        sys.exit("unknown command " + repr(cmd))


if __name__ == "__main__":
    main()
