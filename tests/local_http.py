"""A local HTTP server for tests that speak a protocol at its boundary (CI systems, registries)."""
import contextlib
import threading
from http.server import ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: a client opening dozens of connections at once (uv does) has the
    # rest dropped and retried after a second, which measures the backlog, not the server.
    request_queue_size = 128


@contextlib.contextmanager
def serving(handler_class):
    """Serve `handler_class` on a free loopback port in a thread; yields the server, shut down after."""
    server = _Server(("127.0.0.1", 0), handler_class)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
