// The problems on screen: the list under the canvas (ul.cp-problems) and the markers on the
// canvas (cp-problem-error / cp-problem-warn), with data-problem-count on the island.

import { errorCount, markersByElement } from './problems.js';

/** One <li> per problem (data-element, data-source, data-severity); click or Enter selects. */
export function problemItems(problems, { t, describe, select }) {
  return problems.map((p) => {
    const li = document.createElement('li');
    li.dataset.element = p.element;
    li.dataset.source = p.source;
    li.dataset.severity = p.severity;
    if (p.rule) {
      li.dataset.rule = p.rule;
    }
    li.className = `cp-problem cp-problem-${p.severity}`;
    li.tabIndex = 0;
    li.setAttribute('role', 'button');
    const where = describe(p.element || p.shownOn);
    const parts = [p.message];
    if (where) {
      parts.push(where);
    }
    if (p.line) {
      parts.push(t.line(p.line));
    }
    // The source tag is drawn by CSS from this attribute: the item's text is the message only.
    li.dataset.sourceLabel = p.source === 'engine' ? t.engineSource : t.lintSource;
    li.textContent = parts.join(' — ');
    const go = () => select(p);
    li.addEventListener('click', go);
    li.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        go();
      }
    });
    return li;
  });
}

/** "name（id）" of a diagram element, or the id alone. */
export function describeElement(modeler, id) {
  if (!id) {
    return '';
  }
  const element = modeler.get('elementRegistry').get(id);
  const name = element && element.businessObject && element.businessObject.name;
  return name ? `${name}（${id}）` : id;
}

/** Select an element and bring it into view, entering the sub-process plane that draws it. */
export function focusElement(modeler, id, fallback) {
  const registry = modeler.get('elementRegistry');
  const element = (id && registry.get(id)) || (fallback && registry.get(fallback));
  if (!element) {
    return;
  }
  const canvas = modeler.get('canvas');
  if (element.parent) {
    const root = canvas.findRoot(element);
    if (root && root !== canvas.getRootElement()) {
      canvas.setRootElement(root);
    }
    canvas.scrollToElement(element);
  }
  modeler.get('selection').select(element);
}

/**
 * Show `problems` (sorted): replace the canvas markers `previousMarkers` with new ones, fill the
 * list and its title, set data-problem-count (errors only). Returns the markers now shown.
 */
export function showProblems(modeler, { problems, previousMarkers, el, list, title, t }) {
  const registry = modeler.get('elementRegistry');
  const canvas = modeler.get('canvas');
  for (const [id, cls] of previousMarkers || []) {
    if (registry.get(id)) {
      canvas.removeMarker(id, cls);
    }
  }
  const markers = markersByElement(problems);
  for (const [id, cls] of markers) {
    const element = registry.get(id);
    if (element && element.parent) {
      canvas.addMarker(element, cls);
    }
  }
  list.replaceChildren(...problemItems(problems, {
    t,
    describe: (id) => describeElement(modeler, id),
    select: (p) => focusElement(modeler, p.element, p.shownOn),
  }));
  const errors = errorCount(problems);
  el.dataset.problemCount = String(errors);
  title.textContent = problems.length ? t.problemsTitle(errors, problems.length - errors) : t.noProblemsTitle;
  return markers;
}
