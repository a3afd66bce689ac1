"""Figures written by the training stages, in one consistent style."""
