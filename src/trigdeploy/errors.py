"""User-facing errors: one clear line naming the file/key/column and what was expected."""


class TrigdeployError(Exception):
    """An error caused by the user's input (file, config, arguments), not by a bug.

    The CLI prints ``trigdeploy: error: <message>`` and exits with status 2, no traceback.
    """
