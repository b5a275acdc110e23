"""Registered finite-difference PDE kernels (family ``pde``)."""
