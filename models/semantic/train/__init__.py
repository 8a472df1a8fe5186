"""The SEREP trainer (torch): hierarchy, networks, losses, PCA start, training loop and ONNX export.

Not imported at runtime and not shipped; inference is `models.semantic.runtime` (ONNX Runtime).
"""
