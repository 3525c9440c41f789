"""The dev gateway's hop: the bare Flask app reached through the gateway (same
gunicorn settings) vs directly, side by side; ratio = through / direct requests/s."""

from __future__ import annotations

from bench.harness import BenchEnv, Request, Stats, load, row

REQUESTS = 4000


def run(env: BenchEnv, baseline: Stats) -> list[dict]:
    hello = env.serve("bench.hello:app")
    gateway = env.serve("services.gateway.wsgi:app", {"SPA_AVAILABILITY_URL": hello})
    direct = measure(hello, "/hello")
    through = measure(gateway, "/availability/hello")
    hop = row("gateway: /hello through the dev gateway (ratio vs direct)", through, direct,
              target="ratio >= 0.7")
    return [row("gateway: /hello direct, measured beside it", direct, baseline), hop]


def measure(url: str, path: str) -> Stats:
    load(url, [Request("GET", path)], 300)  # warm-up: connections, the pool
    return load(url, [Request("GET", path)], REQUESTS)
