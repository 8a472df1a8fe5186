"""The head asset's builder (FLAME + ICT-FaceKit -> the `.npz` asset): not imported at runtime, not shipped."""
