"""The workshop's sample application: a small order-quoting web service
(standard library only) that the labs push, build, deploy and trace."""

from pathlib import Path

__version__ = (Path(__file__).resolve().parent.parent / "VERSION").read_text().strip() \
    if (Path(__file__).resolve().parent.parent / "VERSION").exists() else "0.0.0"
