"""The exception types users see for mistakes they can fix."""


class RenderError(ValueError):
    """A user-fixable problem (bad path, column, type, range, size or file), in one sentence."""


class RenderTypeError(RenderError, TypeError):
    """A RenderError for an argument of the wrong type, where datashader raises ``TypeError``
    (e.g. ``stack`` of something that is not an Image): ``except TypeError`` and
    ``except RenderError`` both catch it."""
