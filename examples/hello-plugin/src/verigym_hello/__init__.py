"""A trivial third-party verigym plugin."""
