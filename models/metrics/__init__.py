"""Accuracy metrics shared by evaluation, benchmarks and tests (bpy-free)."""
