"""The one exception type users see for mistakes they can fix."""


class RenderError(ValueError):
    """A user-fixable problem (bad path, column, type, range, size or file), in one sentence."""
