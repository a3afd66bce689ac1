"""neuralode_repro: the DVC + MLflow pipeline that reproduces Chen et al. (NeurIPS 2018).

It builds on the ``neuralode`` library (``library/``, torch only) and imports nothing
at package import, so a stage pays only for the modules it uses.
"""
