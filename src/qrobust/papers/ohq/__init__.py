"""OHQ-style hardware-aware mixed-precision: latency profile, sensitivity, LP allocation, deployment."""
