"""The project's error type for bad input: what a user gave (a file, a flag, a config key, a folder) is wrong.

Library code raises `UserError` (or a subclass) with a message that names the file, key or value and says what
to do; every `vtn-*` command prints it as one line and exits 1 (`vtn_jax.tools.cli`), and `Recognizer` users
can catch it. It subclasses ValueError, so code that caught ValueError before still does.
"""


class UserError(ValueError):
    """Bad input from the user; the message is one line naming the file, key or value at fault."""


def root_cause(error: BaseException, limit: int = 240) -> str:
    """'<type>: <first line>' of the innermost exception an error was raised from (a library's own message, where
    the outer ones, e.g. TensorStore's, run to a hundred lines), at most `limit` characters."""
    while error.__cause__ is not None or (error.__context__ is not None and not error.__suppress_context__):
        error = error.__cause__ or error.__context__
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), '')
    text = f'{type(error).__name__}: {text}' if text else type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + '...'
