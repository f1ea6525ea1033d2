"""Flows and the command line: import, SQL, export; later generate, curate and schedule."""
