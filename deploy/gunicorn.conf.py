"""gunicorn settings shared by every service (and by `make bench`, so that a
service and the bare Flask baseline run under exactly the same server)."""

import os

bind = os.environ.get("SPA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("SPA_WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("SPA_WORKER_CLASS", "gthread")
threads = int(os.environ.get("SPA_THREADS", "4"))
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = None  # the apps log each request as JSON themselves
errorlog = "-"
loglevel = os.environ.get("SPA_LOG_LEVEL", "info").lower()
