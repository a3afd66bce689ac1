"""The first command of every dvc.yaml stage whose command interpolates params: it
fails, and DVC stops before the shell sees that command, unless every value the
command would receive is a plain name (see ``neuralode_repro.cmdguard``)."""

import _venv  # noqa: F401, I001  (first: re-runs this under .venv if needed)

from neuralode_repro.cmdguard import main

if __name__ == "__main__":
    main()
