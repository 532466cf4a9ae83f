"""Serve the sample application: ``python -m app`` (PORT, default 8080)."""

from __future__ import annotations

import os
import signal
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from app.service import application


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def _stop(signum, frame):
    # A container's PID 1 gets SIGTERM when its task stops; Python ignores it there by default.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    with make_server(host, port, application, server_class=ThreadingWSGIServer,
                     handler_class=WSGIRequestHandler) as server:
        print(f"sample app listening on http://{host}:{server.server_port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
