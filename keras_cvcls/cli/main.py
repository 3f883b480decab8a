"""Entry point of the ``keras-cvcls`` command.

Every sub-command is ``main(argv)``-callable in-process, and every command that
reports numbers has ``--json`` (exactly one JSON object on stdout, errors included:
``{"error": ..., "kind": ...}`` with a non-zero exit code).

Arguments are parsed before anything imports TensorFlow, so ``--help`` answers at once;
TensorFlow starts (quietly) only when a command runs.
"""

import argparse
import os
import sys

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines, oneDNN notices)
# is noise on a command line; users can still set the variable themselves.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_cvcls.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, report_error


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are raised (and then reported as JSON under ``--json``)."""

    def error(self, message):
        raise _ArgumentError(self, message)


class _ArgumentError(UsageError):
    def __init__(self, parser, message):
        super().__init__(message)
        self.parser = parser


def _build_parser():
    from keras_cvcls import __version__
    from keras_cvcls.cli import (
        dataset_commands, demo_command, evaluate_command, predict_command, serving_commands, train_command, ui_command,
    )
    from keras_cvcls.cli import lr_find_command, sweep_command

    parser = _Parser(
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
    lr_find_command.register(commands)
    sweep_command.register(commands)
    return parser


def _start_tensorflow_quietly(initialize=True):
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

            if initialize:  # not before a MultiWorkerMirroredStrategy, which must configure the runtime first
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
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in argv
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as e:
        if as_json:
            return report_error(str(e), "usage", as_json=True, exit_code=EXIT_USAGE)
        e.parser.print_usage(sys.stderr)
        print(f"{e.parser.prog}: error: {e}", file=sys.stderr)  # argparse's own form
        return EXIT_USAGE
    as_json = bool(getattr(args, "json", False))
    try:
        _start_tensorflow_quietly(initialize=getattr(args, "distribute", None) != "multi-worker")
        return args.run(args)
    except UsageError as e:
        return report_error(e, "usage", as_json=as_json, exit_code=EXIT_USAGE)
    except FileNotFoundError as e:
        return report_error(e, "not_found", as_json=as_json, exit_code=EXIT_USAGE)
    except ValueError as e:
        return report_error(e, "invalid_value", as_json=as_json, exit_code=EXIT_USAGE)
    except KeyboardInterrupt:
        return report_error("interrupted", "interrupted", as_json=as_json, exit_code=EXIT_INTERRUPTED)
    except Exception as e:
        kind = _failure_kind(e)
        if kind is None:
            raise
        return report_error(e, kind, as_json=as_json, exit_code=EXIT_FAILED)


def _failure_kind(error):
    """The ``kind`` of a known failure (weights unavailable, a scoring call refused, a busy folder), or None."""
    from keras_cvcls.folder_lock import FolderBusyError
    from keras_cvcls.models.imagenet_weights import WeightsUnavailableError
    from keras_cvcls.serving.scoring_error import ScoringError

    if isinstance(error, FolderBusyError):
        return "busy"
    if isinstance(error, WeightsUnavailableError):
        return "weights_unavailable"
    if isinstance(error, ScoringError):
        return "scoring"
    return None


if __name__ == "__main__":
    sys.exit(main())
