"""`python -m device` is `haochaping-evaluator`."""

from device.cli import main

main()
