"""Task forms: bpmn.io form-js definitions checked at deploy time, submissions validated at completion.

`check_form` lists a definition's problems; `FormValidator` turns a definition (or Camunda
`formField` declarations, or nothing) into marshmallow schemas and validates submissions,
raising `FormInvalid` with per-field Chinese (`.fields`) and English (`.fields_en`) messages.
`parse_feel`/`evaluate` are the FEEL subset used by `conditional.hide` and expression fields.
"""
from ..errors import FormInvalid
from .definition import FormProblem, check_form, declared_to_form
from .feel import FeelError, Node, evaluate, parse_feel
from .messages import Msg
from .schema import FormDefinitionError, FormValidator

__all__ = [
    "FeelError", "FormDefinitionError", "FormInvalid", "FormProblem", "FormValidator", "Msg", "Node",
    "check_form", "declared_to_form", "evaluate", "parse_feel",
]
