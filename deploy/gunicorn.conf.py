"""gunicorn settings shared by every service (and by `make bench`, so that a
service and the bare Flask baseline run under exactly the same server)."""

import os

bind = os.environ.get("SPA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("SPA_WEB_CONCURRENCY", "2"))
# gthread, but a thread only gets a request that arrived whole (slow clients cost none).
worker_class = os.environ.get("SPA_WORKER_CLASS",
                              "services.common.gunicorn_worker.BufferingThreadWorker")
threads = int(os.environ.get("SPA_THREADS", "4"))
timeout = 30
graceful_timeout = 10
keepalive = 5
# The worker refuses what is over its own limits as problem+json first; these only
# back it up (gunicorn's ceiling for the request line is 8190).
limit_request_line = 8190
limit_request_field_size = 16 * 1024
accesslog = None  # the apps log each request as JSON themselves
errorlog = "-"
loglevel = os.environ.get("SPA_LOG_LEVEL", "info").lower()
