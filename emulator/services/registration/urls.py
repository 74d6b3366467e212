"""Routes of the registration service (filled in by the service's own module)."""
SERVICE = "registration"
HOSTS: list[str] = []
ROUTES: list = []
