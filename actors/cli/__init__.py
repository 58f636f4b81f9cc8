"""The ``galfriday`` command line: one module per command group, registered in ``main``."""

__all__: list[str] = []
