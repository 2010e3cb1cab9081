"""Age estimation from photos and live video: the model, capture, face tracking and temporal fusion. No Qt."""
