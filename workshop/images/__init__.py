"""Container images without Docker: the project's own OCI image builder
(``oci.py``), a registry client that pushes and pulls over the OCI Distribution
API (``registry_client.py``), and podman's configuration for this kind of
machine (``podman.py``, ``containers.conf``). Standard library only."""
