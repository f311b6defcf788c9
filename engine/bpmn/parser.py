"""SpiffWorkflow's Camunda parser, taught to read BPMN the way CarePath analysts write it.

* Input is always an lxml tree from `engine.bpmn.xmlsafe.parse_xml` (never a path or raw string).
* Every element's Camunda attributes (`assignee`, `candidateUsers`, `candidateGroups`, `dueDate`,
  `followUpDate`, `formKey`, `priority`), its `camunda:properties`, its declared form fields
  (`camunda:formData`) and its source line are kept in the task spec's `extensions`, which
  SpiffWorkflow serializes with the spec.
* Timers read the engine clock and accept unquoted ISO 8601 literals (`engine.bpmn.timers`).
* Messages carry an explicit payload and can land in a result variable (`engine.bpmn.messages`).
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.util import first
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS

from .messages import CarePathMessage
from .timers import ClockCycle, ClockDuration, ClockTimeDate

CAMUNDA_TASK_ATTRIBUTES = (
    "assignee", "candidateUsers", "candidateGroups", "dueDate", "followUpDate", "formKey",
    "priority",
)


class _ExtensionsMixin:
    """Keep Camunda attributes, properties and the source line on every task spec."""

    def parse_extensions(self, node=None):
        node = node if node is not None else self.node
        extensions: dict = {"line": node.sourceline}
        properties = {
            prop.get("name"): prop.get("value")
            for prop in self._xpath(node, "./bpmn:extensionElements/camunda:properties/camunda:property")
            if prop.get("name")
        }
        if properties:
            extensions["properties"] = properties
        for attribute in CAMUNDA_TASK_ATTRIBUTES:
            value = node.get(f"{{{CAMUNDA_MODEL_NS}}}{attribute}")
            if value is not None:
                extensions[attribute] = value
        fields = self._declared_fields(node)
        if fields:
            extensions["formFields"] = fields
        return extensions

    def _declared_fields(self, node) -> list[dict]:
        """Camunda "generated task form" fields (camunda:formData/camunda:formField): the
        variables a task without a form file declares it takes."""
        fields = []
        for field in self._xpath(node, "./bpmn:extensionElements/camunda:formData/camunda:formField"):
            fields.append({
                "id": field.get("id"), "label": field.get("label"), "type": field.get("type"),
                "values": [{"id": v.get("id"), "name": v.get("name")}
                           for v in self._xpath(field, "./camunda:value")],
                "validation": [{"name": c.get("name"), "config": c.get("config")}
                               for c in self._xpath(field, "./camunda:validation/camunda:constraint")],
            })
        return fields


class _EventMixin:
    """Clock-aware timers and CarePath messages for every event parser."""

    def parse_timer_event(self, event):
        name = self.node.get("name", self.node.get("id"))
        description = self.get_event_description(event)
        for tag, cls in (("timeDate", ClockTimeDate), ("timeDuration", ClockDuration),
                         ("timeCycle", ClockCycle)):
            element = first(self._xpath(event, f"./bpmn:{tag}"))
            if element is not None:
                if not (element.text or "").strip():
                    raise ValidationException(
                        f"<{tag}> 为空 (empty timer value)", node=self.node, file_name=self.filename)
                return cls(name, element.text.strip(), description=description)
        raise ValidationException(
            "定时器缺少 timeDate/timeDuration/timeCycle (timer has no time specification)",
            node=self.node, file_name=self.filename)

    def parse_message_event(self, message_event):
        message_ref = message_event.get("messageRef")
        if message_ref is None:
            raise ValidationException(
                "消息事件缺少 messageRef (message event without a message)",
                node=self.node, file_name=self.filename)
        name = self.process_parser.parser.messages.get(message_ref)
        if name is None:
            raise ValidationException(
                f"消息 {message_ref} 未定义 (no bpmn:message with this id)",
                node=self.node, file_name=self.filename)
        payload = {}
        for param in self._xpath(
                self.node, "./bpmn:extensionElements/camunda:inputOutput/camunda:inputParameter"):
            if param.get("name"):
                payload[param.get("name")] = (param.text or "None").strip()
        result_var = message_event.get(f"{{{CAMUNDA_MODEL_NS}}}resultVariable")
        return CarePathMessage(
            name, self.get_message_correlations(message_ref), payload_expressions=payload,
            result_var=result_var, description=self.get_event_description(message_event))


def _carepath_parser_classes() -> dict:
    classes = dict(BpmnParser.PARSER_CLASSES)
    classes.update(CamundaParser.OVERRIDE_PARSER_CLASSES)
    wrapped = {}
    for tag, (parser_cls, spec_cls) in classes.items():
        bases = (_ExtensionsMixin, _EventMixin, parser_cls)
        wrapped[tag] = (type(f"CarePath{parser_cls.__name__}", bases, {}), spec_cls)
    return wrapped


class CarePathParser(CamundaParser):
    """Parse pre-hardened lxml trees of BPMN (and DMN) into SpiffWorkflow specs."""

    OVERRIDE_PARSER_CLASSES = _carepath_parser_classes()
