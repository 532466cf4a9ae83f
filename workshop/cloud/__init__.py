"""The workshop cloud: moto behind the project's gateway, plus the project's
own DevOps services and engines, on one port (4566)."""
