"""The ``probe`` command's sub-commands, one module per group; each defines ``register(app)``."""
