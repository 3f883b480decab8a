"""``python -m keras_cvcls``: the ``keras-cvcls`` command."""

import sys

from keras_cvcls.cli.main import main

sys.exit(main())
