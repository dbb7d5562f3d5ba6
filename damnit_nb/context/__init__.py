"""The DAMNIT context-file contract: variables defined in a context file or in notebook cells."""

from .definitions import Definitions
from .errors import ContextFileError, DefinitionError, GroupError, VariableDefinitionError
from .group import Group
from .lint import ContextWarning, check_context_file
from .loader import load_context_file
from .variable import Cell, Skip, Variable

__all__ = [
    "Variable", "Cell", "Skip", "Group",
    "Definitions", "load_context_file", "check_context_file", "ContextWarning",
    "DefinitionError", "ContextFileError", "VariableDefinitionError", "GroupError",
]
