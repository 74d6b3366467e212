"""The `lab` fixture every step shares."""
import pytest

from emulator.world.world import World

from .lab import Lab


@pytest.fixture
def lab(request):
    seed = request.config.getoption("--entra-seed", default="0")
    world = World(seed=seed)
    world.raise_server_errors = True
    the_lab = Lab(world).start()
    yield the_lab
    the_lab.stop()
