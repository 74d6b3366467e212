"""Routes of the graph service (filled in by the service's own module)."""
SERVICE = "graph"
HOSTS: list[str] = []
ROUTES: list = []
