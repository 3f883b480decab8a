"""The ``keras-cvcls`` command line: a thin layer over the library."""
