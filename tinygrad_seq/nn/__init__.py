"""Neural-network building blocks. `functional` holds the stateless functions."""
from . import functional

__all__ = ["functional"]
