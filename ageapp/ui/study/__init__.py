"""The Study page: the paper's user study (guess an age, pick the older face) and its results."""
