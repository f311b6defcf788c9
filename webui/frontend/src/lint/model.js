// Small helpers over bpmn-moddle elements, shared by the carepath lint rules. No bpmnlint import:
// the rules must load in node's test runner and in the browser bundle alike.

/** Whether a moddle element is of `type` (or a subtype). */
export function is(node, type) {
  return Boolean(node && typeof node.$instanceOf === 'function' && node.$instanceOf(type));
}

export function isAny(node, types) {
  return types.some((type) => is(node, type));
}

/** A camunda: attribute as trimmed text ('' when absent). */
export function camundaAttr(node, name) {
  const value = node.get ? node.get(`camunda:${name}`) : undefined;
  return typeof value === 'string' ? value.trim() : '';
}

/** The nearest ancestor of `type`, or null. */
export function findParent(node, type) {
  let parent = node && node.$parent;
  while (parent) {
    if (is(parent, type)) {
      return parent;
    }
    parent = parent.$parent;
  }
  return null;
}

/** The values of `camunda:property` entries inside extensionElements, by name (first wins). */
export function camundaProperties(node) {
  const found = {};
  const values = (node.extensionElements && node.extensionElements.values) || [];
  for (const ext of values) {
    if (!is(ext, 'camunda:Properties')) {
      continue;
    }
    for (const property of ext.values || []) {
      if (property.name && !(property.name in found)) {
        found[property.name] = property.value;
      }
    }
  }
  return found;
}

/** Every lane of a process, nested lanes included. */
export function lanesOf(process) {
  const lanes = [];
  const visit = (laneSet) => {
    for (const lane of (laneSet && laneSet.lanes) || []) {
      lanes.push(lane);
      visit(lane.childLaneSet);
    }
  };
  for (const laneSet of process.laneSets || []) {
    visit(laneSet);
  }
  return lanes;
}

/**
 * The innermost lane that holds `node` (or the sub-process it sits in), or null. A lane's
 * flowNodeRef lists the nodes of its process; nested lanes come after their parents.
 */
export function laneOf(node) {
  const process = findParent(node, 'bpmn:Process');
  if (!process) {
    return null;
  }
  const chain = [];
  for (let current = node; current && current !== process; current = current.$parent) {
    chain.push(current);
  }
  let found = null;
  for (const lane of lanesOf(process)) {
    if ((lane.flowNodeRef || []).some((ref) => chain.includes(ref))) {
      found = lane; // keep going: a nested lane is more specific
    }
  }
  return found;
}

/** The sequence flows of a flow-element container that leave `node`. */
export function outgoingFlows(node) {
  const container = node.$parent;
  return ((container && container.flowElements) || []).filter(
    (el) => is(el, 'bpmn:SequenceFlow') && el.sourceRef === node,
  );
}

/**
 * Fill in the derived `incoming` / `outgoing` references of every flow node from the sequence
 * flows of the diagram. BPMN makes them optional and CarePath's library files leave them out,
 * while bpmn-js and bpmnlint's rules read them: without this, every node of such a file would
 * look disconnected, and bpmn-js would update them only for the flows an analyst touches.
 * Returns the number of references added.
 */
export function completeFlowReferences(definitions) {
  let added = 0;
  const link = (node, name, flow) => {
    if (!node || typeof node.get !== 'function') {
      return;
    }
    const list = node.get(name);
    if (Array.isArray(list) && !list.includes(flow)) {
      list.push(flow);
      added += 1;
    }
  };
  const visit = (container) => {
    for (const el of container.flowElements || []) {
      if (is(el, 'bpmn:SequenceFlow')) {
        link(el.sourceRef, 'outgoing', el);
        link(el.targetRef, 'incoming', el);
      }
      if (el.flowElements) {
        visit(el);
      }
    }
  };
  for (const root of (definitions && definitions.rootElements) || []) {
    if (is(root, 'bpmn:Process')) {
      visit(root);
    }
  }
  return added;
}
