// The modeler island's DOM: toolbar, canvas and panel, deploy bar, problems box; and the
// first view of a diagram. No state lives here: modeler.js owns it.

export function button(className, text, attrs = {}) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = className;
  b.textContent = text;
  Object.entries(attrs).forEach(([k, v]) => b.setAttribute(k, v));
  return b;
}

/**
 * The toolbar the modeler and the form editor share: save, export, import (a hidden file input),
 * `extra` buttons, the dirty badge and a status line. Class names start with `prefix`
 * (`cp-modeler-save`, `cp-form-editor-file`, ...); read-only toolbars have no save or import.
 */
export function editorToolbar(prefix, { save, export: exportLabel, import: importLabel, accept, readonly,
  extra = [] }) {
  const toolbar = document.createElement('div');
  toolbar.className = `${prefix}-toolbar`;
  toolbar.setAttribute('role', 'toolbar');
  const parts = {
    saveButton: button(`${prefix}-save`, save),
    exportButton: button(`${prefix}-export`, exportLabel),
    importButton: button(`${prefix}-import`, importLabel),
    fileInput: document.createElement('input'),
    dirtyBadge: document.createElement('span'),
    status: document.createElement('span'),
    extra,
  };
  parts.fileInput.type = 'file';
  parts.fileInput.accept = accept;
  parts.fileInput.className = `${prefix}-file`;
  parts.fileInput.hidden = true;
  parts.dirtyBadge.className = `${prefix}-dirty`;
  parts.status.className = `${prefix}-status`;
  parts.status.setAttribute('role', 'status');
  parts.status.setAttribute('aria-live', 'polite');
  if (!readonly) {
    toolbar.append(parts.saveButton);
  }
  toolbar.append(parts.exportButton);
  if (!readonly) {
    toolbar.append(parts.importButton, parts.fileInput);
  }
  toolbar.append(...extra, parts.dirtyBadge, parts.status);
  return { toolbar, parts };
}

/**
 * Build the island's parts inside `el` (emptied first). Returns the elements by role:
 * toolbar buttons, fileInput, dirtyBadge, status, canvasEl, panelEl, commentInput,
 * deployButton (none when read-only), problemsTitle, problemsList.
 */
export function buildModelerView(el, t, readonly) {
  const view = {};
  el.replaceChildren();
  el.classList.add('cp-modeler-ready');

  const { toolbar, parts } = editorToolbar('cp-modeler', {
    save: t.save, export: t.export, import: t.import,
    accept: '.bpmn,.xml,application/xml,text/xml', readonly,
    extra: [button('cp-modeler-simulate', t.simulate, { 'aria-pressed': 'false' })],
  });
  Object.assign(view, parts);
  [view.simulateButton] = parts.extra;

  const main = document.createElement('div');
  main.className = 'cp-modeler-main';
  view.canvasEl = document.createElement('div');
  view.canvasEl.className = 'cp-modeler-canvas';
  view.panelEl = document.createElement('div');
  view.panelEl.className = 'cp-modeler-panel';
  main.append(view.canvasEl, view.panelEl);

  const bottom = document.createElement('div');
  bottom.className = 'cp-modeler-bottom';
  if (!readonly) {
    const deploy = document.createElement('div');
    deploy.className = 'cp-modeler-deploy';
    const label = document.createElement('label');
    label.className = 'cp-deploy-label';
    label.textContent = t.comment;
    view.commentInput = document.createElement('input');
    view.commentInput.type = 'text';
    view.commentInput.className = 'cp-deploy-comment';
    view.commentInput.name = 'comment';
    view.commentInput.required = true;
    view.commentInput.maxLength = 500;
    view.commentInput.placeholder = t.commentPlaceholder;
    label.append(view.commentInput);
    view.deployButton = button('cp-deploy', t.deploy);
    deploy.append(label, view.deployButton);
    bottom.append(deploy);
  }
  const problemsBox = document.createElement('section');
  problemsBox.className = 'cp-problems-box';
  view.problemsTitle = document.createElement('h3');
  view.problemsTitle.className = 'cp-problems-title';
  view.problemsTitle.textContent = t.problems;
  view.problemsList = document.createElement('ul');
  view.problemsList.className = 'cp-problems';
  problemsBox.append(view.problemsTitle, view.problemsList);
  bottom.append(problemsBox);

  el.append(toolbar, main, bottom);
  return view;
}

/** Zoom to the whole diagram, clear of the palette on the left. */
export function fitDiagram(canvas, canvasEl) {
  canvas.zoom('fit-viewport', 'auto');
  const { inner, outer } = canvas.viewbox();
  if (!inner.width || !inner.height || !outer.width || !outer.height) {
    return;
  }
  const palette = canvasEl.querySelector('.djs-palette');
  const left = (palette ? palette.offsetLeft + palette.offsetWidth : 0) + 24;
  const top = 24;
  const margin = 24;
  const scale = Math.min(
    1,
    (outer.width - left - margin) / inner.width,
    (outer.height - top - margin) / inner.height,
  );
  if (scale <= 0) {
    return;
  }
  canvas.viewbox({
    x: inner.x - left / scale,
    y: inner.y - top / scale,
    width: outer.width / scale,
    height: outer.height / scale,
  });
}
