"""Datasets: synthetic generators and the MNIST download; no training here."""
