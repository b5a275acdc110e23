"""Heat demo: simulate the spectral heat kernel, check parity with its torch twin, plot.

    scripts/run experiments/heat_demo.py --n 256 --nu 0.05 --steps 400

A good result: max |u - exact| around 1e-5 (float32 round-off), every parity line "ok", and heat.png
showing each mode's amplitude on its exp(-ν k² t) line.
"""

import tyro

from parallax.demo import HeatDemoConfig, run_heat_demo

if __name__ == "__main__":
    run_heat_demo(tyro.cli(HeatDemoConfig))
