"""Placeholder, replaced by the vode_adams solver."""
