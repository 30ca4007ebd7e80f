"""The suite's own exception for wrong user input, reported by the tools as one line."""

__all__ = ['ConfigError']


class ConfigError(ValueError):
    """The config or the command line asks for something the run cannot do.

    ``tools/train.py`` and ``tools/test.py`` report it (and the suite's other input errors, see
    :data:`cmae_mm.engine.entrypoints.USER_ERRORS`) as one ``tools/<tool>.py: error: ...`` line;
    any other exception, a plain ``ValueError`` included, keeps its traceback. A subclass of
    ``ValueError``, so callers that catch ``ValueError`` still catch it.
    """
