"""The FLAME-topology head at runtime: the asset (load), ARKit names and the numpy forward model.

The builder is `models.head.build` (not imported here, not shipped in the add-on).
"""
from ..vocab.arkit import ARKIT_NAMES
from .asset import AssetError, HeadAsset, load_asset_file
from .model import HeadModel

__all__ = ["ARKIT_NAMES", "AssetError", "HeadAsset", "HeadModel", "load_asset_file"]
