"""Registered ``particles`` kernels."""
