"""Reading BPMN as analysts write it: hardened XML, Camunda extensions, clock-aware timers."""
