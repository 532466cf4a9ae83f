"""A TLS handshake on the cloud's plain-HTTP port is closed at once: podman and
skopeo try HTTPS first even with ``--tls-verify=false``, and a server that never
answers their ClientHello costs 10-11 s per call before they fall back to HTTP
(measured; closing it brings login, push and pull to 0.06-0.4 s)."""

from __future__ import annotations

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

_HANDSHAKE = 0x16  # a TLS record of type handshake: the ClientHello's first byte


class PlainHTTPChannel(HTTPChannel):
    """waitress's channel, which looks at the first byte of a connection only."""

    _first_read = True

    def received(self, data: bytes) -> bool:
        if self._first_read:
            self._first_read = False
            if data and data[0] == _HANDSHAKE:
                self.will_close = True
                self.handle_close()
                return False
        return super().received(data)


def install(socket_map: dict) -> None:
    """Use PlainHTTPChannel on every listening server of a waitress socket map."""
    for dispatcher in list(socket_map.values()):
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = PlainHTTPChannel
