"""The kit is tested with pytest's own ``pytester``: broken connectors in throwaway
projects."""

pytest_plugins = ["pytester"]
