"""Serialized forms: a pathway version's spec (stored once) and an instance's state (no spec).

SpiffWorkflow's default serializer embeds the whole spec in every instance. Here the spec is
serialized once per pathway version and cached in memory once restored; an instance's state holds
only its task tree and data, compressed. `STATE_FORMAT` versions our envelope: change it with a
migration.
"""
from __future__ import annotations

import json
import zlib
from datetime import date
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_FORMAT, BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

from .messages import CarePathMessage, CarePathMessageConverter
from .timers import TIMER_CLASSES

STATE_FORMAT = 1


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """A workflow's state without its specs; the specs are supplied when restoring."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None, script_engine=None):
        workflow = self.target_class(spec, subprocess_specs, script_engine=script_engine,
                                     deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _build_registry():
    config = dict(CAMUNDA_CONFIG)
    for cls in TIMER_CLASSES:
        config[cls] = TimerConditionalEventDefinitionConverter
    config[CarePathMessage] = CarePathMessageConverter
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return registry


# An 8 KB window and a small hash table: a state is a few KB, so it compresses as small as with
# zlib's defaults (32 KB, memLevel 8), while setting up those defaults costs four times what
# compressing a typical state does. `zlib.decompress` reads the window size from the header.
_WINDOW_BITS, _MEM_LEVEL = 13, 5


def _compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, _WINDOW_BITS, _MEM_LEVEL)
    return compressor.compress(data) + compressor.flush()


class PathwaySerializer:
    """Specs to JSON once per version; instance state to compressed JSON without specs."""

    def __init__(self):
        self.registry = _build_registry()
        self._encoder = create_encoder(self.registry)
        self._workflow_converter = SpeclessWorkflowConverter(BpmnWorkflow, self.registry)

    def _dumps(self, produce) -> str:
        self.registry._encoder_mode = True
        try:
            return json.dumps(produce(), cls=self._encoder, ensure_ascii=False, separators=(",", ":"))
        finally:
            self.registry._encoder_mode = False

    def specs_to_json(self, spec, subprocess_specs: dict) -> str:
        return self._dumps(lambda: {
            "spiff_format": SPIFF_FORMAT,
            "spec": self.registry.convert(spec),
            "subprocess_specs": {name: self.registry.convert(sp) for name, sp in subprocess_specs.items()},
        })

    def specs_from_json(self, text: str):
        dct = json.loads(text)
        spec = self.registry.restore(dct["spec"])
        subprocess_specs = {name: self.registry.restore(sp) for name, sp in dct["subprocess_specs"].items()}
        return spec, subprocess_specs

    def state_to_bytes(self, workflow) -> bytes:
        text = self._dumps(lambda: {"format": STATE_FORMAT, "spiff_format": SPIFF_FORMAT,
                                    "workflow": self._workflow_converter.to_dict(workflow)})
        return _compress(text.encode("utf-8"))

    def state_from_bytes(self, data: bytes, spec, subprocess_specs, script_engine):
        dct = json.loads(zlib.decompress(data))
        if dct.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported instance state format {dct.get('format')!r}")
        return self._workflow_converter.from_dict(
            dct["workflow"], spec=spec, subprocess_specs=subprocess_specs, script_engine=script_engine)
