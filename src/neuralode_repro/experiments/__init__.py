"""Per-experiment glue called by the thin stage scripts: the stage's config
section, its batches and loss, and the metrics and figures it writes."""
