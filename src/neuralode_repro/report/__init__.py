"""The comparison report: reads metrics/ and figures only, never retrains."""
