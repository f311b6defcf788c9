// Form editor island: <div class="cp-form-editor" data-source-url data-save-url data-revision
// data-config='{"formKey", "locale", "readonly"}'>.
//
// @bpmn-io/form-js-editor (palette, canvas, properties panel) on one form of forms/, with
// save (JSON, optimistic revision), export (<basename>.form, pretty-printed like the library
// files), import (a .form file; a bad file leaves the current form alone) and the server's
// problems listed under the editor.

import { FormEditor } from '@bpmn-io/form-js-editor';

// form-js-editor 1.x brings its own form-js-viewer (the task form island uses 2.x): the build
// resolves this specifier from inside the editor's package, so both stay as their packages pin them.
import 'form-js-editor-viewer:dist/assets/form-js.css';
import '@bpmn-io/form-js-editor/dist/assets/form-js-editor.css';
import '@bpmn-io/form-js-editor/dist/assets/properties-panel.css';
import './editor-toolbar.css';
import './form-editor.css';

import { IslandError, localeOf, mountAll, readJSON } from './common.js';
import {
  download, errorText, fetchSource, NetworkError, readFile, request,
} from './modeler/http.js';
import { formFileText, schemaToSave } from './modeler/form-schema.js';
import { dirtyTracking } from './modeler/dirty.js';
import { configLocale, messages } from './modeler/messages.js';
import { downloadName } from './modeler/urls.js';
import { editorToolbar } from './modeler/view.js';

class FormEditorIsland {
  constructor(el, config, locale) {
    this.el = el;
    this.config = config;
    this.t = messages(locale);
    this.readonly = config.readonly === true;
    this.revision = Number.parseInt(el.dataset.revision, 10) || 0;
    this.unsavedImport = false;
    this.savedTop = undefined;
    this.buildDom();
  }

  buildDom() {
    const { t, el } = this;
    el.replaceChildren();
    const { toolbar, parts } = editorToolbar('cp-form-editor', {
      save: t.saveForm, export: t.exportForm, import: t.importForm,
      accept: '.form,.json,application/json', readonly: this.readonly,
    });
    Object.assign(this, parts);

    this.editorEl = document.createElement('div');
    this.editorEl.className = 'cp-form-editor-canvas';

    this.problemsList = document.createElement('ul');
    this.problemsList.className = 'cp-problems';
    el.append(toolbar, this.editorEl, this.problemsList);
    el.dataset.state = 'idle';
    el.dataset.problemCount = '0';
  }

  setStatus(text, isError = false) {
    this.status.textContent = text;
    this.status.classList.toggle('cp-form-editor-status-error', isError);
  }

  fail(message) {
    this.el.dataset.state = 'error';
    this.setStatus(message, true);
  }

  create() {
    this.editor = new FormEditor({ container: this.editorEl });
    this.editor.on('commandStack.changed', () => {
      if (!this.importing) {
        this.updateDirty();
      }
    });
  }

  async open(schema) {
    this.importing = true;
    try {
      await this.editor.importSchema(schema);
      this.original = schema;
    } finally {
      this.importing = false;
    }
  }

  commandStack() {
    return this.editor.get('commandStack');
  }

  currentSchema() {
    return schemaToSave(this.editor.saveSchema(), this.original);
  }

  renderProblems(problems) {
    const items = (Array.isArray(problems) ? problems : []).filter((p) => p && p.message).map((p) => {
      const li = document.createElement('li');
      const element = typeof p.element === 'string' ? p.element : '';
      li.dataset.element = element;
      li.dataset.source = 'engine';
      li.dataset.severity = p.severity === 'warn' || p.severity === 'warning' ? 'warn' : 'error';
      li.className = `cp-problem cp-problem-${li.dataset.severity}`;
      li.tabIndex = 0;
      li.setAttribute('role', 'button');
      li.textContent = element ? `${p.message} — ${element}` : String(p.message);
      li.addEventListener('click', () => this.selectField(element));
      return li;
    });
    this.problemsList.replaceChildren(...items);
    this.el.dataset.problemCount = String(items.filter((li) => li.dataset.severity === 'error').length);
  }

  selectField(keyOrId) {
    if (!keyOrId) {
      return;
    }
    const field = this.editor.get('formFieldRegistry').getAll()
      .find((f) => f.key === keyOrId || f.id === keyOrId);
    if (!field) {
      return;
    }
    this.editor.get('selection').set(field);
    const node = this.editorEl.querySelector(`[data-id="${CSS.escape(field.id)}"]`);
    if (node && node.scrollIntoView) {
      node.scrollIntoView({ block: 'center' });
    }
  }

  async save() {
    const { t } = this;
    if (this.readonly || !this.el.dataset.saveUrl) {
      return false;
    }
    this.saveButton.disabled = true;
    this.el.dataset.state = 'saving';
    this.setStatus(t.saving);
    try {
      const top = this.topOfStack();
      let answer;
      try {
        answer = await request(this.el.dataset.saveUrl, {
          method: 'POST',
          body: formFileText(this.currentSchema()),
          headers: { 'Content-Type': 'application/json', 'X-Revision': String(this.revision) },
        });
      } catch (err) {
        this.fail(err instanceof NetworkError ? t.network : String(err));
        return false;
      }
      if (!answer.ok || !answer.data || typeof answer.data !== 'object') {
        this.fail(errorText(answer, t));
        return false;
      }
      if (Number.isInteger(answer.data.revision)) {
        this.revision = answer.data.revision;
        this.el.dataset.revision = String(this.revision);
      }
      this.renderProblems(answer.data.problems);
      this.markSaved(top);
      this.el.dataset.state = 'saved';
      this.setStatus(t.saved(answer.data.saved_at));
      return true;
    } finally {
      this.saveButton.disabled = false;
    }
  }

  exportFile() {
    const name = downloadName(this.config.formKey || (this.original && this.original.id) || 'form', '.form');
    download(name, formFileText(this.currentSchema()), 'application/json');
  }

  async importFile(file) {
    const { t } = this;
    let schema;
    try {
      schema = JSON.parse(await readFile(file));
    } catch (err) {
      this.fail(t.importFormFailed(err && err.message ? err.message : String(err)));
      return;
    }
    const previous = this.editor.saveSchema();
    const previousOriginal = this.original;
    const wasDirty = this.dirty;
    try {
      await this.open(schema);
    } catch (err) {
      await this.open(previous); // importSchema clears the editor first: put the form back
      this.original = previousOriginal;
      this.unsavedImport = wasDirty;
      this.savedTop = this.topOfStack();
      this.updateDirty();
      this.fail(t.importFormFailed(err && err.message ? err.message : String(err)));
      return;
    }
    this.unsavedImport = true;
    this.updateDirty();
    this.el.dataset.state = 'idle';
    this.setStatus(t.imported(file.name));
  }

  wire() {
    this.saveButton.addEventListener('click', () => { this.save(); });
    this.exportButton.addEventListener('click', () => this.exportFile());
    this.importButton.addEventListener('click', () => this.fileInput.click());
    this.fileInput.addEventListener('change', () => {
      const file = this.fileInput.files && this.fileInput.files[0];
      this.fileInput.value = '';
      if (file) {
        this.importFile(file);
      }
    });
  }
}

Object.assign(FormEditorIsland.prototype, dirtyTracking);

async function mountFormEditor(el) {
  const config = readJSON(el, 'config', {}) || {};
  const locale = configLocale(config, localeOf(el));
  const t = messages(locale);
  const data = await fetchSource(el, t, { missing: t.formOpenFailed, failed: t.formFetch });
  if (!data || typeof data !== 'object') {
    throw new IslandError(t.formOpenFailed('JSON'));
  }

  const island = new FormEditorIsland(el, config, locale);
  island.create();
  try {
    await island.open(data);
  } catch (err) {
    island.editor.destroy();
    throw new IslandError(t.formOpenFailed(err && err.message ? err.message : String(err)));
  }
  island.markSaved(island.topOfStack());
  island.wire();
  if (island.readonly) {
    island.setStatus(t.readonlyForm);
  }

  const ns = (window.CarePath = window.CarePath || {});
  ns.formEditors = ns.formEditors || [];
  ns.formEditors.push(island.editor);
  island.editor.carepath = island;
  return island.editor;
}

mountAll('mountFormEditors', 'div.cp-form-editor', mountFormEditor);
