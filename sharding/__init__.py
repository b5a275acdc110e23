"""parallax.sharding: meshes, logical-axis rules, halo exchange, distributed FFT, comms report.

See the sharding issue; this package knows nothing of runs, configs or the CLI.
"""

__all__: list[str] = []
