from tests.storage.seaweed import seaweed  # noqa: F401  (session fixture)
