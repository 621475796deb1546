"""FastAPI routers, one per resource of API.md."""
