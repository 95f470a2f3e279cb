"""The project's error type for bad input: what a user gave (a file, a flag, a config key, a folder) is wrong.

Library code raises `UserError` (or a subclass) with a message that names the file, key or value and says what
to do; every `vtn-*` command prints it as one line and exits 1 (`vtn_jax.tools.cli`), and `Recognizer` users
can catch it. It subclasses ValueError, so code that caught ValueError before still does.
"""
import os
import re


class UserError(ValueError):
    """Bad input from the user; the message is one line naming the file, key or value at fault."""


def root_cause(error: BaseException, limit: int = 240) -> str:
    """What an error comes down to, on one line of at most `limit` characters: an operating-system error met on
    the way (errno and its text: 'No space left on device', as TensorStore reports it inside a long message),
    else '<type>: <first line>' of the innermost exception it was raised from (`raise ... from`)."""
    chain = [error]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    for e in reversed(chain):
        if isinstance(e, OSError) and e.errno:
            return str(e)
        found = re.search(r"os_error_code='?(\d+)", str(e))
        if found:
            return f'[Errno {found.group(1)}] {os.strerror(int(found.group(1)))}'
    text = next((line.strip() for line in str(chain[-1]).splitlines() if line.strip()), '')
    text = f'{type(chain[-1]).__name__}: {text}' if text else type(chain[-1]).__name__
    return text if len(text) <= limit else text[:limit - 3] + '...'
