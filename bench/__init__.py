"""Every benchmark of the kit (`make bench`): export, convert, serving, clients; results in bench/results/.

Not part of the installed product: run from a checkout (`python -m bench --artifacts DIR --out DIR`).
"""
