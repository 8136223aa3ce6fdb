"""A local HTTP server for tests that speak a protocol at its boundary (CI systems, registries)."""
import contextlib
import threading
from http.server import ThreadingHTTPServer


@contextlib.contextmanager
def serving(handler_class):
    """Serve `handler_class` on a free loopback port in a thread; yields the server, shut down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
