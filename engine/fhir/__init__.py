"""FHIR R4 export of care pathways (served by the web API under /api/v1/fhir/).

- `resources`: Patient, CarePlan, Task and Bundle made from CarePath rows, and the mappings
  (statuses, owners, stages, times, ids). Pure.
- `services`: `person_bundle`, `careplan_of_instance`, `task_resource` — the same access checks
  as the person, instance and task pages, each read audited.
- `schema`: `validator()`, checking a resource against the official R4 JSON schema.
"""
from .services import careplan_of_instance, person_bundle, task_resource

__all__ = ["careplan_of_instance", "person_bundle", "task_resource"]
