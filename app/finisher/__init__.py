"""The in-pod finisher: ends the exporter once the test is over and the final numbers are in."""
