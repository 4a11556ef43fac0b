"""The one exception type users see.

Anything the user can fix (a missing file, a spec typo, an unknown label) is raised as a
`UserError` whose message is a single line naming the file or key and the fix. The CLI prints
it as `error: <message>` and exits non-zero, so no traceback from deep inside torch or Ray
reaches a researcher for a mistake in their input.
"""


class UserError(Exception):
    """A problem with the user's input, worded as one line that names the culprit and the fix."""
