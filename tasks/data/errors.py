"""The one exception type for data problems a user can fix."""


class DataError(ValueError):
    """A missing, unreadable or unknown dataset, split or tokenizer.

    The message is one line that names the problem and says what to do about it, so a
    command-line entry point can print it as is instead of a traceback.
    """
