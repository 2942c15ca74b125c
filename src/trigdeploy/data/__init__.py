"""Data layer: file layouts, offline generators, streaming readers."""
