"""The errors of defining variables: one variable's, a group's, a set of them, a context file's.

``VariableDefinitionError`` and ``GroupError`` stop one definition as it is made;
``DefinitionError`` and ``ContextFileError`` list every problem of a whole set at once.
"""

__all__ = ["VariableDefinitionError", "GroupError", "DefinitionError", "ContextFileError"]


class VariableDefinitionError(ValueError):
    """A variable's definition is wrong (bad argument, unknown dependency...)."""


class GroupError(VariableDefinitionError):
    """A Group class or instance cannot be used; ``group`` is the offending one, if any."""

    def __init__(self, message, group=None):
        super().__init__(message)
        self.group = group


class DefinitionError(ValueError):
    """The variables cannot be used together; ``problems`` lists every reason at once."""

    def __init__(self, problems, source=None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) with the variables{where}:\n{lines}\n"
                         "Fix them and load the variables again.")


class ContextFileError(DefinitionError):
    """A context file cannot be used; the message names the file, the line and the fix."""
