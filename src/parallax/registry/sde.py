"""Registered ``sde`` kernels."""
