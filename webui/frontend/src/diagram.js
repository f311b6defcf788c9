// Diagram island: <div class="cp-diagram" data-bpmn-url=... data-markers=... data-process=...>.
// Read-only BPMN view (bpmn-js NavigatedViewer: pan and zoom, no modelling) with the instance's
// progress drawn as markers.

import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';

import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import './diagram.css';

import { IslandError, messagesFor, mountAll, readJSON } from './common.js';

/** data-markers key -> marker class. Overdue is drawn over active by the stylesheet. */
export const MARKER_CLASSES = {
  completed: 'cp-completed',
  active: 'cp-active',
  overdue: 'cp-overdue',
  // A diff between two versions (the modeler's compare page).
  added: 'cp-added',
  changed: 'cp-changed',
  removed: 'cp-removed',
};

/** Markers that also mark the collapsed sub-process holding the element, on the parent plane. */
const PROPAGATED = new Set(['active', 'overdue']);

async function fetchXML(el, url) {
  const t = messagesFor(el);
  let response;
  try {
    response = await fetch(url, {
      credentials: 'same-origin',
      headers: { Accept: 'application/xml, text/xml;q=0.9, */*;q=0.1' },
    });
  } catch (err) {
    throw new IslandError(t.diagramNetwork);
  }
  if (!response.ok) {
    throw new IslandError(t.diagramFetch(response.status));
  }
  return response.text();
}

/** The collapsed sub-process shapes (on outer planes) that contain `element`, innermost first. */
function enclosingSubprocesses(element, registry) {
  const found = [];
  let node = element;
  while (node) {
    const parent = node.parent;
    if (!parent) {
      // a root: a drill-down plane is rooted at the sub-process's business object
      const shape = node.businessObject && registry.get(node.businessObject.id);
      if (!shape || shape === node || !shape.parent) {
        break;
      }
      found.push(shape);
      node = shape;
    } else {
      node = parent;
    }
  }
  return found;
}

/** Add the marker classes; ids not in the diagram are skipped. Returns the ids that were marked. */
export function addMarkers(viewer, markers) {
  const canvas = viewer.get('canvas');
  const registry = viewer.get('elementRegistry');
  const marked = [];
  for (const [name, cls] of Object.entries(MARKER_CLASSES)) {
    const ids = Array.isArray(markers[name]) ? markers[name] : [];
    for (const id of ids) {
      const element = typeof id === 'string' ? registry.get(id) : null;
      if (!element || !element.parent) {
        continue; // unknown id, or a root element (process, collaboration, plane)
      }
      canvas.addMarker(element, cls);
      marked.push(id);
      if (PROPAGATED.has(name)) {
        for (const shape of enclosingSubprocesses(element, registry)) {
          canvas.addMarker(shape, cls);
        }
      }
    }
  }
  return marked;
}

function participantsOf(registry) {
  return registry.filter((element) => element.type === 'bpmn:Participant');
}

function planeElementMatches(bo, processId) {
  if (!bo) {
    return false;
  }
  if (bo.id === processId) {
    return true;
  }
  return (bo.participants || []).some((p) => p.processRef && p.processRef.id === processId);
}

/**
 * Show the process named by data-process: open the BPMN diagram that draws it when the file has
 * several, enter its drill-down plane when it is a collapsed sub-process, and zoom onto its pool
 * when the collaboration has several participants. Returns the participant shape to zoom to, if any.
 */
async function selectProcess(viewer, processId) {
  if (!processId) {
    return null;
  }
  const canvas = viewer.get('canvas');
  let registry = viewer.get('elementRegistry');

  // (1) another top-level diagram of the file draws it
  const current = canvas.getRootElement();
  if (!planeElementMatches(current.businessObject, processId)) {
    const root = canvas.getRootElements().find((r) => r.businessObject && r.businessObject.id === processId);
    if (root) {
      canvas.setRootElement(root); // a drill-down plane (collapsed sub-process)
      return null;
    }
    const definitions = viewer.getDefinitions();
    const diagram = (definitions.diagrams || []).find(
      (d) => d.plane && planeElementMatches(d.plane.bpmnElement, processId),
    );
    const alreadyShown = participantsOf(registry).some(
      (p) => p.businessObject.processRef && p.businessObject.processRef.id === processId,
    );
    if (diagram && !alreadyShown) {
      await viewer.open(diagram);
      registry = viewer.get('elementRegistry');
    }
  }

  // (2) several pools: zoom onto the one of that process
  const participants = participantsOf(registry);
  if (participants.length > 1) {
    return participants.find(
      (p) => p.businessObject.processRef && p.businessObject.processRef.id === processId,
    ) || null;
  }
  return null;
}

function zoomTo(canvas, shape) {
  const margin = 20;
  canvas.viewbox({
    x: shape.x - margin,
    y: shape.y - margin,
    width: shape.width + 2 * margin,
    height: shape.height + 2 * margin,
  });
}

async function mountDiagram(el) {
  const t = messagesFor(el);
  const url = el.dataset.bpmnUrl;
  if (!url) {
    throw new IslandError(t.missing('data-bpmn-url'));
  }
  const markers = readJSON(el, 'markers', {});
  const xml = await fetchXML(el, url);

  const viewer = new NavigatedViewer({ container: el });
  try {
    await viewer.importXML(xml);
  } catch (err) {
    viewer.destroy();
    throw new IslandError(t.diagramImport(err.message || String(err)));
  }
  const canvas = viewer.get('canvas');
  const pool = await selectProcess(viewer, el.dataset.process);
  canvas.zoom('fit-viewport', 'auto');
  if (pool) {
    zoomTo(canvas, pool);
  }
  addMarkers(viewer, markers && typeof markers === 'object' ? markers : {});
  return viewer;
}

mountAll('mountDiagrams', '.cp-diagram', mountDiagram);
