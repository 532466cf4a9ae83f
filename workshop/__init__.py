"""devops-workshop: the workshop cloud (``workshop.cloud``), the command line
(``workshop.cli``), and the paths and settings they share."""

__version__ = "0.1.0"
