"""Message event definition for messages that cross pathway instances.

What a thrown message carries (its payload), in order of preference:
1. `camunda:inputOutput` input parameters on the throwing element: `{name: evaluated value}`;
2. otherwise the throwing task's data (SpiffWorkflow's behaviour).
A catching element with `camunda:resultVariable` (on its messageEventDefinition) stores the payload
under that variable; otherwise the payload's keys are merged into the catching task's data.
Correlation properties are SpiffWorkflow's (bpmn:correlationProperty + retrieval expressions).
"""
from __future__ import annotations

from copy import deepcopy

from SpiffWorkflow.bpmn.serializer.default.event_definition import MessageEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent


class CarePathMessage(MessageEventDefinition):

    def __init__(self, name, correlation_properties=None, payload_expressions=None,
                 result_var=None, **kwargs):
        super().__init__(name, correlation_properties, **kwargs)
        self.payload_expressions = payload_expressions or {}
        self.result_var = result_var

    def throw(self, my_task):
        if self.payload_expressions:
            engine = my_task.workflow.script_engine
            payload = {key: engine.evaluate(my_task, expr)
                       for key, expr in self.payload_expressions.items()}
        else:
            payload = deepcopy(my_task.data)
        correlations = self.get_correlations(my_task, payload)
        my_task.workflow.correlations.update(correlations)
        my_task.workflow.top_workflow.catch(BpmnEvent(self, payload=payload, correlations=correlations))

    def update_task_data(self, my_task):
        payload = my_task.internal_data.get(self.name)
        if payload is None:
            return
        if self.result_var:
            my_task.data[self.result_var] = payload
        elif isinstance(payload, dict):
            my_task.set_data(**payload)


class CarePathMessageConverter(MessageEventDefinitionConverter):

    def to_dict(self, event_definition):
        dct = super().to_dict(event_definition)
        dct["payload_expressions"] = event_definition.payload_expressions
        dct["result_var"] = event_definition.result_var
        return dct


def correlation_values(correlations: dict) -> dict:
    """Flatten SpiffWorkflow's {key: {property: value}} into {property: value}."""
    flat: dict = {}
    for props in (correlations or {}).values():
        if isinstance(props, dict):
            flat.update(props)
    return flat
