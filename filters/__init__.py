"""Checks that decide, for every sampled chain of thought, whether it is kept, and why not."""
