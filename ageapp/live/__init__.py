"""Live estimation (webcam or video file): capture, face tracking and temporal fusion of posteriors. No Qt."""
