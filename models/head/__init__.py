"""The FLAME-topology head: asset (build, cache, load), ARKit names and the numpy forward model."""
from .arkit import ARKIT_NAMES
from .asset import AssetError, HeadAsset
from .build import load_head_asset
from .model import HeadModel

__all__ = ["ARKIT_NAMES", "AssetError", "HeadAsset", "HeadModel", "load_head_asset"]
