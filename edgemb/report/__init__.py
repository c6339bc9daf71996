"""Reports: metrics as JSON, plots as PNG, and HTML pages."""
