"""Faces in images: safe decoding (images), detection (detection), alignment to a template (alignment)."""
