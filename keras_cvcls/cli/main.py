"""Entry point of the ``keras-cvcls`` command.

Every sub-command is ``main(argv)``-callable in-process, and every command that
reports numbers has ``--json`` (exactly one JSON object on stdout).
"""

import argparse
import os
import sys

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines, oneDNN notices)
# is noise on a command line; users can still set the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A user mistake: printed as one line, exit code 2."""


def _build_parser():
    from keras_cvcls import __version__
    from keras_cvcls.cli import (
        dataset_commands, demo_command, evaluate_command, predict_command, serving_commands, train_command, ui_command,
    )

    parser = argparse.ArgumentParser(
        prog="keras-cvcls",
        description="From a folder of photos to an image classifier served by TensorFlow Serving.",
    )
    parser.add_argument("--version", action="version", version=f"keras-cvcls {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    dataset_commands.register(commands)
    train_command.register(commands)
    evaluate_command.register(commands)
    predict_command.register(commands)
    serving_commands.register(commands)
    ui_command.register(commands)
    demo_command.register(commands)
    return parser


def _start_tensorflow_quietly():
    """Imports TensorFlow and initialises its devices with C++ start-up logs hidden.

    TensorFlow prints CUDA-probe and oneDNN notices straight to file descriptor 2
    at start-up, whatever ``TF_CPP_MIN_LOG_LEVEL`` says; on a command line they
    bury the output. They are shown if the import itself fails.
    """
    if "tensorflow" in sys.modules or os.environ.get("KERAS_CVCLS_VERBOSE_TF"):
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_logical_devices()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(argv=None):
    """Runs the command line; returns the exit code."""
    _start_tensorflow_quietly()
    from keras_cvcls.models.imagenet_weights import WeightsUnavailableError

    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ValueError, FileNotFoundError) as e:
        print(f"keras-cvcls: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except WeightsUnavailableError as e:
        print(f"keras-cvcls: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("keras-cvcls: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
