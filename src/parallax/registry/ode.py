"""Registered ``ode`` kernels."""
