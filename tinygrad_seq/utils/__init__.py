"""Utilities named as in torch.utils: `utils.data` (datasets, DataLoader, random_split)."""
from . import data
