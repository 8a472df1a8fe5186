"""Retarget: capture backends (backends.py: the landmark fit), the mesh -> shape-key solve (solve.py),
smoothing, the Live Link Face CSV, and the capture entry point `pipeline.run(video, options) -> Performance`.

Import the submodules directly: only pipeline.py and the backends need OpenCV and MediaPipe.
"""
