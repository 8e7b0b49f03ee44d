"""``python -m idtheory.pretrain``: the ``idtheory pretrain`` command."""

from idtheory.pretrain.cli import main

raise SystemExit(main())
