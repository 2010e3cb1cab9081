"""The Estimate page: photos and a live camera, the model and detector in use, their worker threads, and the
Estimate menu."""
