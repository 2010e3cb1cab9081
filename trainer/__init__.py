"""The age network: backbones, heads, losses, targets, training loop, evaluation (torch; no Qt)."""
