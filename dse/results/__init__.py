"""The results frame of a study (pandas)."""
