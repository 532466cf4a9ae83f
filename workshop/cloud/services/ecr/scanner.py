"""The scanner engine: scans that ECR's backend announces (``ecr.scan``: on push when
the repository scans on push, or start_image_scan) run here, one at a time on a
thread started with the first scan, reading the image's layers from the blob store.
A layer's packages are kept by its digest, so a base shared by many images is read
once (bounded: the newest 64 layers)."""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict

from workshop.cloud import services
from workshop.cloud.services.ecr import blobs, scanning

log = logging.getLogger("workshop.cloud.ecr")

_queue: "queue.Queue[tuple[str, str, str, str]]" = queue.Queue()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()
_layers: "OrderedDict[str, tuple[dict, list]]" = OrderedDict()
_KEPT_LAYERS = 64


@services.on("ecr.scan")
def _scan_requested(account: str, region: str, repository: str, digest: str) -> None:
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_work, name="ecr-scanner", daemon=True)
            _thread.start()
    _queue.put((account, region, repository, digest))


def _work() -> None:
    while True:
        account, region, repository, digest = _queue.get()
        try:
            _scan(account, region, repository, digest)
        except Exception:  # one bad image must not stop the scanner
            log.exception("scanning %s@%s failed", repository, digest)


def _scan(account: str, region: str, repository: str, digest: str) -> None:
    from workshop.cloud.services.ecr import models

    backend = models.ecr_backends[account][region]
    with models.LOCK:
        repo = backend.repositories.get(repository)
        image = backend.find_image(repo, {"imageDigest": digest}) if repo else None
        layers = list(image.references[1:]) if image is not None else None
    if layers is None:
        return
    try:
        entries = [_layer(account, layer) for layer in layers]
    except (OSError, ValueError) as exc:  # a layer that is not a tar (an artifact, say)
        backend.finish_scan(repository, digest, None, f"UnsupportedImageError: {exc}")
        return
    backend.finish_scan(repository, digest, scanning.findings(scanning.inventory(entries)))


def _layer(account: str, digest: str) -> tuple[dict, list]:
    if digest in _layers:
        _layers.move_to_end(digest)
        return _layers[digest]
    found = scanning.layer_entries(blobs.blob_path(account, digest))
    _layers[digest] = found
    while len(_layers) > _KEPT_LAYERS:
        _layers.popitem(last=False)
    return found
