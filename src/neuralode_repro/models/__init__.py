"""Models: ODE-based models and baselines; models never own a training loop."""
