"""``python -m idtheory.bench``: the CPU benchmarks of :mod:`idtheory.bench`."""

from idtheory.bench import main

main()
