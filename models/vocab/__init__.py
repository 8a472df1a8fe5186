"""Names shared by every part: ARKit shapes, landmark groups of the 68-point and MediaPipe-478 sets.

One left/right convention throughout: the character's left is +X (FLAME's frame), so "left" means the
subject's own left, which appears on the right of a frontal image.
"""
