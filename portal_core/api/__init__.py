"""The REST API: a FastAPI adapter over the services, mounted at ``/api``."""
