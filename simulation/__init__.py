"""A simulated year of the firm: the real workflows and activities on the time-skipping test
server, driven by synthetic staff, so the report has a year of history to show."""
