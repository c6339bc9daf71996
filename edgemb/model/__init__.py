"""MobileNet builders, model statistics and the training loop."""
