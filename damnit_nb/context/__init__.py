"""The DAMNIT context-file contract: variables defined in a context file or in notebook cells."""

from .definitions import DefinitionError, Definitions
from .group import Group, GroupError
from .lint import ContextWarning, check_context_file
from .loader import ContextFileError, load_context_file
from .variable import Cell, Skip, Variable, VariableDefinitionError

__all__ = [
    "Variable", "Cell", "Skip", "Group",
    "Definitions", "load_context_file", "check_context_file", "ContextWarning",
    "DefinitionError", "ContextFileError", "VariableDefinitionError", "GroupError",
]
