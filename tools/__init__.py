"""Tools beside the package (the benchmark); not installed."""
