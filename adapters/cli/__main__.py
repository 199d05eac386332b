"""`python -m adapters.cli`: the same command line as `benefitpool`."""

from adapters.cli import main

main()
