"""Routes of the intune service (filled in by the service's own module)."""
SERVICE = "intune"
HOSTS: list[str] = []
ROUTES: list = []
