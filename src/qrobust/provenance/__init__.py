"""Provenance: the record each job writes and the chain from a number back to raw data (record), how
records name files across environments (refs), and DVC (dvc)."""
