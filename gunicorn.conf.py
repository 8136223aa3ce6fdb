"""gunicorn's settings for the gateway: `gunicorn gateway_project.wsgi` reads this file from the current
folder by itself; command-line flags override it.

Sync workers, two per core (WEB_CONCURRENCY to change). Measured with bench/load.py on 2 cores at 50
clients: 4 sync workers answered 125-131 requests/s with p99 481-512 ms, where 4 workers x 4 threads
(gthread) answered 112/s with p99 1.9 s. A worker's threads share one GIL, and gthread keeps each
keep-alive connection in the worker that accepted it, so requests queue in a busy worker while another
idles; sync workers take the next connection only when free. Put a buffering proxy (nginx, an ingress)
in front, as gunicorn's documentation asks for sync workers, so a slow client holds the proxy, not a worker.
"""
import os

workers = int(os.environ.get("WEB_CONCURRENCY", 2 * len(os.sched_getaffinity(0))))
worker_class = "sync"
# The longest request is the dry run, bounded by DRY_RUN_*_DEADLINE_SECONDS (20 s) below this.
timeout = 30
