"""Widgets that several pages use: a face crop view, posterior and static plots, a photo with its faces marked,
numpy-to-Qt image conversion."""
