"""The capture model: face image -> SEREP expression code, 64 landmarks, head rotation and gaze.

Runtime (ONNX Runtime, no torch) in `runtime.py`; the one crop in `crop.py`; training (torch) in `train/`.
"""
