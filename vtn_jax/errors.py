"""The project's error type for bad input: what a user gave (a file, a flag, a config key, a folder) is wrong.

Library code raises `UserError` (or a subclass) with a message that names the file, key or value and says what
to do; every `vtn-*` command prints it as one line and exits 1 (`vtn_jax.tools.cli`), and `Recognizer` users
can catch it. It subclasses ValueError, so code that caught ValueError before still does.
"""


class UserError(ValueError):
    """Bad input from the user; the message is one line naming the file, key or value at fault."""
