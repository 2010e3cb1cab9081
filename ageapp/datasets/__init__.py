"""Labelled face datasets: one reader per format (photos: names carry the labels; label_files: CSV, Adience, MegaAge), chosen by scan."""
