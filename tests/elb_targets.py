"""Plain local HTTP servers as load balancer targets, for the ELB tests and benchmark:
``python -m tests.elb_targets PORT NAME [STATE_FILE]`` answers ``/`` with its name (body
and ``X-App-Version``), ``/health`` with the status code written in STATE_FILE (200
when absent), ``/slow?s=N`` after N seconds; every answer echoes the forwarded headers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class Target(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1       # one send per answer (unbuffered, a client's delayed ACK adds 40 ms)

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = self.rfile.read(length) if length else b""   # read, or it poisons the kept connection
        url = urlsplit(self.path)
        status = 200
        if url.path == "/health":
            state = self.server.state_file
            status = int(state.read_text().strip()) if state and state.exists() else 200
        elif url.path == "/slow":
            time.sleep(float(parse_qs(url.query).get("s", ["1"])[0]))
        body = json.dumps({"version": self.server.name, "path": self.path, "received": len(received),
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-App-Version", self.server.name)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


def serve(port: int, name: str, state_file: str | None = None) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), Target)
    server.daemon_threads = True
    server.name = name
    server.state_file = Path(state_file) if state_file else None
    server.serve_forever()


def start(port: int, name: str, state_file: Path | None = None) -> subprocess.Popen:
    """A target process, once it accepts connections."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "tests.elb_targets", str(port), name]
                            + ([str(state_file)] if state_file else []), cwd=root)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError(f"target {name} did not listen on {port}")


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
