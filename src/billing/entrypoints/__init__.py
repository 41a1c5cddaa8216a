"""The processes: the worker, the agent HTTP API, the command line and the embedded development stack. Nothing imports them."""
