"""The controller: records verdicts and summaries, and ends exporters no finisher ends."""
