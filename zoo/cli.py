"""How every `python -m zoo.<verb>` behaves on bad input: one line on stderr, exit status 2.

A verb checks its flags before it loads TensorFlow (a typo answers at once): its module imports
nothing heavy, and its `main` calls `start_tensorflow()` once the flags are known good.
Tracebacks are for bugs. Problems the user can fix (unknown names, missing or unreadable data, bad
settings) are raised as `ConfigError`/`DataError` and reported as a single line; set ZOO_DEBUG=1
to see the traceback anyway.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from absl import app, flags, logging

from tasks.data.errors import DataError
from zoo.config import ConfigError

USER_ERRORS = (ConfigError, DataError, FileNotFoundError, NotADirectoryError)
_HELP = {"help", "h", "?", "helpshort", "helpfull", "helpxml"}


def run(main: Callable[[list[str]], None], prog: str) -> None:
    """`absl.app.run(main)`, with user errors turned into a one-line message and exit status 2."""

    def guarded(argv: list[str]) -> None:
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines drown our output
        try:
            main(argv)
        except USER_ERRORS as e:
            if os.environ.get("ZOO_DEBUG"):
                raise
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
            sys.exit(2)

    def parse(argv: list[str]) -> list[str]:
        try:
            return flags.FLAGS(argv)
        except SystemExit as e:  # absl ends --help with status 1; asking for help is no error
            if e.code == 1 and any(a.lstrip("-") in _HELP for a in argv[1:]):
                sys.exit(0)
            raise
        except flags.Error as e:  # absl would print two lines and exit 1
            message = unknown_choice(argv) or f"{str(e).strip().splitlines()[0]} (see --help)"
            print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
            sys.exit(2)

    app.run(guarded, flags_parser=parse)


def start_tensorflow(optimize_graphs: bool = True) -> None:
    """Loads TensorFlow, its start-up chatter filtered (`zoo.startup`): call it after the
    flags are checked, before importing anything that needs it. `optimize_graphs=False` turns
    TensorFlow's graph optimizer (grappler) off, for a one-shot command whose graphs run a few
    times: optimizing a text-to-text export's beam-search loops first costs more than it
    saves (`zoo.summarize` of one text from a tiny summarizer's export: 36.5 s -> 19.3 s)."""
    from zoo.startup import import_tensorflow_quietly

    import_tensorflow_quietly()
    if not optimize_graphs:
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def unknown_choice(argv: list[str]) -> str | None:
    """For `--flag=value` where value is not one of an enum flag's choices: the message, with
    the nearest choice ("did you mean transformer_lm_tiny?"); None if argv has no such flag."""
    import difflib

    known = flags.FLAGS._flags()  # noqa: SLF001 - absl's registry of defined flags
    for arg in argv[1:]:
        name, sep, value = arg.removeprefix("--").partition("=")
        flag = known.get(name) if sep else None
        choices = getattr(getattr(flag, "parser", None), "enum_values", None)
        if choices and value not in choices:
            near = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]}?" if near else f"choose one of: {', '.join(choices)}"
            return f"--{name}: unknown value {value!r}; {hint}"
    return None


def op_error_message(error: Exception) -> str:
    """A TensorFlow op error's cause in one line (see `zoo.serving.op_errors`)."""
    from zoo.serving.op_errors import op_message

    return op_message(error)


def load_export_signatures(path: str, needed: str, kind: str = "",
                           argument: str = "--saved_model") -> dict:
    """The signatures of the SavedModel at `path` (given as `argument`), which must include
    `needed`; a missing, damaged or foreign export is a one-line ConfigError."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tf-text ops exported tokenizers use)

    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ConfigError(f"{argument}: no SavedModel in {path}")
    try:
        signatures = tf.saved_model.load(path).signatures
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file: say so in one line
        raise ConfigError(f"{argument}: cannot load {path}: {op_error_message(e)}") from None
    if needed not in signatures:
        suffix = f": not a {kind} export" if kind else ""
        raise ConfigError(f"{path} has no `{needed}` signature{suffix}")
    return signatures


def check_source(argv: list[str], model_dir: str | None, saved_model: str | None) -> None:
    """No stray arguments, and exactly one of `--model_dir` and `--saved_model`."""
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
    if bool(model_dir) == bool(saved_model):
        raise ConfigError("give exactly one of --model_dir and --saved_model")


def source_path(model_dir: str | None, saved_model: str | None) -> str:
    """The path a verb loads (`zoo.load`): --model_dir's run or --saved_model's export, which
    must hold a SavedModel (a run directory given there is refused, not rebuilt)."""
    if saved_model:
        if not os.path.isfile(os.path.join(saved_model, "saved_model.pb")):
            raise ConfigError(f"--saved_model: no SavedModel in {saved_model}")
        return saved_model
    if not os.path.isdir(model_dir):
        raise ConfigError(f"--model_dir: no such run directory: {model_dir}")
    return model_dir


def texts_to_run(argv: list[str], model_dir: str | None, saved_model: str | None,
                 texts: list[str] | None) -> list[str]:
    """The `--text`s of a verb that reads `--model_dir` or `--saved_model` (exactly one):
    no stray arguments, at least one text, none blank; else a one-line ConfigError."""
    check_source(argv, model_dir, saved_model)
    if not texts or any(not text.strip() for text in texts):
        raise ConfigError("--text: give one or more non-empty texts")
    return check_utf8(texts, "--text")


def check_utf8(texts: list[str], flag: str) -> list[str]:
    """`texts`, unless one holds bytes that are not UTF-8 (a command line keeps them as
    surrogate escapes, which no tensor can hold): a one-line ConfigError naming `flag`."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"{flag}: {text[:40]!r} is not valid UTF-8 text") from None
    return texts
