"""How fast the playground answers: updates per second and minibatches per second over HTTP.

A client on one keep-alive connection asks ``/api/train`` again and again, as the page does
while playing, for a few setups from the smallest to the largest the page allows, at the
page's default speed (10 minibatches per update) and at "max" (as many as fit in 80 ms).
The page itself asks for at most about 20 updates a second; the rate here is what the server
could give, the bound on how live the page can be. ``--setup`` picks setups by a part of their
names (e.g. ``--setup "6 x 16"``).

    .venv/bin/python benchmarks/playground_bench.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import time

from deltaprop.playground import serve_in_thread

SETUPS = {
    "xor 2-4-4-1": {"dataset": "xor"},
    "spirals 2-8-8-8-1": {"dataset": "spirals", "layers": "8,8,8", "samples": 400},
    "xor 6 x 16 (the page's other defaults)": {"dataset": "xor", "layers": "16,16,16,16,16,16"},
    "spirals, 2000 samples, 6 x 16, batch norm, batch 2": {
        "dataset": "spirals", "samples": 2000, "layers": "16,16,16,16,16,16", "bn": 1, "batch": 2},
    "sine 1-16-16-1": {"dataset": "sine", "layers": "16,16"},
}
SPEEDS = {"10 per update": 10, "max (80 ms)": None}


def post(connection: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, dict]:
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    data = connection.getresponse().read()
    return len(data), json.loads(data)


def measure(connection: http.client.HTTPConnection, config: dict, max_steps: int | None,
            seconds: float) -> tuple[float, float, float]:
    """Updates per second, minibatches per second, KiB per answer."""
    post(connection, "/api/reset", {"session": "bench", "config": config})
    body = {"session": "bench", "max_ms": 80}
    if max_steps is not None:
        body["max_steps"] = max_steps
    start, updates, size = time.perf_counter(), 0, 0
    while time.perf_counter() - start < seconds:
        size, answer = post(connection, "/api/train", body)
        updates += 1
    elapsed = time.perf_counter() - start
    return updates / elapsed, answer["state"]["steps"] / elapsed, size / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per setup and speed")
    parser.add_argument("--setup", default="", help="only the setups whose name contains this")
    args = parser.parse_args()
    server = serve_in_thread(port=0)
    host, port = server.server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=60)
    print("| setup | speed | updates/s | minibatches/s | KiB per answer |")
    print("|---|---|---|---|---|")
    try:
        for name, config in SETUPS.items():
            if args.setup not in name:
                continue
            for speed, max_steps in SPEEDS.items():
                rate, steps, size = measure(connection, config, max_steps, args.seconds)
                print(f"| {name} | {speed} | {rate:.1f} | {steps:.0f} | {size:.0f} |", flush=True)
    finally:
        connection.close()
        server.shutdown()


if __name__ == "__main__":
    main()
