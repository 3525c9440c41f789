"""The compose stack's gateway, nginx with deploy/nginx/spa.conf, run for real in front
of the dev stack's apps: slow clients cost the apps nothing, and what nginx itself
refuses is problem+json, as every other error is."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from services.common.devstack import ROOT
from services.common.redis import free_port
from tests.helpers import assert_problem, wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONFIG = """
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{}}
http {{
  include {log_conf};
  access_log {root}/access.log spa_private;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  upstream availability  {{ server 127.0.0.1:{availability}; keepalive 4; }}
  upstream booking       {{ server 127.0.0.1:{booking}; keepalive 4; }}
  upstream notifications {{ server 127.0.0.1:{notifications}; keepalive 4; }}
  upstream gateway_app   {{ server 127.0.0.1:{gateway}; }}
  upstream desk          {{ server 127.0.0.1:{desk}; }}
  server {{
    listen 127.0.0.1:{port};
    include {spa_conf};
  }}
}}
"""


class Nginx(str):
    """The base URL nginx answers on, and where it writes its access log."""

    access_log: Path

    @classmethod
    def at(cls, base: str, access_log: Path) -> Nginx:
        running = cls(base)
        running.access_log = access_log
        return running


@pytest.fixture(scope="module")
def nginx(stack, tmp_path_factory):
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed: `make test` installs it with apt "
                    "(tests/install-tools.sh); it could not here")
    root, port = tmp_path_factory.mktemp("nginx"), free_port()
    ports = {name: stack.env[f"SPA_{name.upper()}_PORT"]
             for name in ("availability", "booking", "notifications", "gateway", "desk")}
    conf = root / "nginx.conf"
    conf.write_text(CONFIG.format(root=root, port=port, spa_conf=ROOT / "deploy/nginx/spa.conf",
                                  log_conf=ROOT / "deploy/nginx/log.conf", **ports))
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(root)],
                               stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base), timeout_s=10, what="nginx to listen")
        yield Nginx.at(base, root / "access.log")
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(base: str) -> bool:
    try:
        return requests.get(f"{base}/booking/healthz", timeout=1).ok
    except requests.RequestException:
        return False


def test_the_partner_api_answers_through_nginx(stack, nginx):
    response = requests.get(f"{nginx}/v1/studios", timeout=10,
                            headers={"Authorization": f"Bearer {stack.partner_key}"})
    assert response.status_code == 200 and response.json()["items"][0]["id"] == "camden"
    assert requests.get(f"{nginx}/v1/openapi.json", timeout=10).json()["paths"]


def test_the_front_desk_is_served_through_nginx(nginx):
    page = requests.get(f"{nginx}/desk/sign-in", timeout=10)
    assert page.status_code == 200 and "API key" in page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Path=/desk" in page.headers.get("Set-Cookie", "Path=/desk")
    moved = requests.get(f"{nginx}/desk", timeout=10, allow_redirects=False)
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/desk/")


def test_clients_are_routed_and_their_emails_stay_out_of_the_access_log(stack, nginx):
    response = requests.get(f"{nginx}/v1/clients", params={"email": "zelda@example.com"},
                            headers={"Authorization": f"Bearer {stack.partner_key}"},
                            timeout=10)
    assert response.status_code == 200 and response.json() == {"items": []}
    logged = wait_for(lambda: "/v1/clients" in nginx.access_log.read_text()
                      and nginx.access_log.read_text(), what="the access log line")
    assert '"GET /v1/clients" 200' in logged and "zelda" not in logged


@pytest.mark.parametrize("request_kwargs, status, code", [
    ({"headers": {"Idempotency-Key": "k" * 1_000_000}}, 431, "headers_too_large"),
    ({"headers": {"Authorization": "Bearer " + "x" * 20_000}}, 431, "headers_too_large"),
    ({"params": {"q": "a" * 20_000}}, 414, "uri_too_long"),
    ({"data": "x" * 70_000, "headers": {"Content-Type": "application/json"}}, 413,
     "payload_too_large"),
])
def test_what_nginx_refuses_is_problem_json(nginx, request_kwargs, status, code):
    response = requests.post(f"{nginx}/v1/bookings", timeout=10, **request_kwargs)
    assert_problem(response, status, code)


def test_slow_clients_do_not_starve_normal_requests_through_nginx(stack, nginx):
    address = ("127.0.0.1", int(nginx.rsplit(":", 1)[1]))
    stop = threading.Event()
    idle = [socket.create_connection(address) for _ in range(100)]

    def trickle():
        with socket.create_connection(address) as conn:
            conn.sendall(b"GET /v1/studios HTTP/1.1\r\nHost: x\r\n")
            while not stop.wait(2.0):
                try:
                    conn.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    return

    for _ in range(100):
        threading.Thread(target=trickle, daemon=True).start()
    try:
        time.sleep(1.0)
        latencies = []
        for _ in range(50):
            started = time.monotonic()
            response = requests.get(f"{nginx}/v1/studios", timeout=30, headers={
                "Authorization": f"Bearer {stack.partner_key}"})
            assert response.status_code == 200
            latencies.append(time.monotonic() - started)
    finally:
        stop.set()
        for conn in idle:
            conn.close()
    assert sorted(latencies)[int(0.99 * len(latencies))] < 1.0
