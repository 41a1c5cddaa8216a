"""The agent API: HTTP for the people who work the queues (FastAPI app in `billing.entrypoints.api.app`, run by `billing api`)."""
