"""The DAMNIT context-file contract: variables defined in a context file or in notebook cells."""

from .definitions import DefinitionError, Definitions
from .loader import ContextFileError, load_context_file
from .variable import Cell, Skip, Variable, VariableDefinitionError

__all__ = [
    "Variable", "Cell", "Skip",
    "Definitions", "load_context_file",
    "DefinitionError", "ContextFileError", "VariableDefinitionError",
]
