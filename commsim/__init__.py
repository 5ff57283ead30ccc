"""commsim: simulate the communication inside data-parallel training."""

__version__ = "0.1.0"
