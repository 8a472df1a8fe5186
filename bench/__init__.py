"""Benchmarks that score the product end to end (`python -m bench capture`). Not shipped in the add-on."""
