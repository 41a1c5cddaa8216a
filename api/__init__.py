"""The agent API: HTTP for the people who work the queues (FastAPI app in `api.app`, run by `billing api`)."""
