"""Video input for the capture path: decoding (frames.py, OpenCV) and face tracking (track.py, MediaPipe).

Import the submodules directly: errors.py needs neither OpenCV nor MediaPipe, so code that only reports
capture errors (the CSV reader, the add-on's bake) runs where those packages are missing.
"""
