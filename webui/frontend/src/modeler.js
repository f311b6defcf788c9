// Modeler island: <div class="cp-modeler" data-source-url data-validate-url data-save-url
// data-deploy-url data-revision data-config='{...}'>.
//
// The analyst's BPMN editor: bpmn-js Modeler with the Camunda Platform moddle and behaviors, the
// properties panel (bpmn + Camunda Platform providers + the CarePath group), lint while editing
// (bpmnlint recommended + plugin carepath), the engine's validation after each change, a
// problems list, save / export / import / token simulation, and deploy with a required note.

import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from 'bpmn-js-properties-panel';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
import lintModule from 'bpmn-js-bpmnlint';
import TokenSimulationModule from 'bpmn-js-token-simulation';

import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import 'bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css';
import 'bpmn-js-token-simulation/assets/css/bpmn-js-token-simulation.css';
import './editor-toolbar.css';
import './modeler.css';

import { IslandError, afterNextFrame, localeOf, mountAll, readJSON } from './common.js';
import { buildLintConfig } from './lint/config.js';
import { completeFlowReferences } from './lint/model.js';
import { CarePathPropertiesModule } from './modeler/carepath-properties.js';
import {
  download, errorText, fetchSource, NetworkError, readFile, request,
} from './modeler/http.js';
import { dirtyTracking } from './modeler/dirty.js';
import { configLocale, messages } from './modeler/messages.js';
import { engineProblems, lintProblems, sortProblems } from './modeler/problems.js';
import { showProblems } from './modeler/problems-view.js';
import { translateModule } from './modeler/translate.js';
import { downloadName } from './modeler/urls.js';
import { buildModelerView, fitDiagram } from './modeler/view.js';

const VALIDATE_DELAY_MS = 800;

/** Properties panel groups shown open: what an analyst edits most on a CarePath pathway. */
const OPEN_GROUPS = {
  general: { open: true },
  carepath: { open: true },
  CamundaPlatform__UserAssignment: { open: true },
  timer: { open: true },
  CamundaPlatform__Condition: { open: true },
};

/** One mounted modeler: its DOM, the bpmn-js instance and the editing state. */
class ModelerIsland {
  constructor(el, config, locale) {
    this.el = el;
    this.config = config;
    this.locale = locale;
    this.t = messages(locale);
    this.readonly = config.readonly === true;
    this.revision = Number.parseInt(el.dataset.revision, 10) || 0;
    this.lint = [];
    this.engine = [];
    this.linted = 0;
    this.checks = 0;
    this.validateSeq = 0;
    this.validateTimer = null;
    this.importing = false;
    this.unsavedImport = false;
    this.savedTop = undefined;
    this.busy = false;
    Object.assign(this, buildModelerView(el, this.t, this.readonly));
    this.setState('idle');
    this.setStatus(this.t.loading);
  }

  setState(state) {
    this.el.dataset.state = state;
  }

  setStatus(text, isError = false) {
    this.status.textContent = text;
    this.status.classList.toggle('cp-modeler-status-error', isError);
  }

  fail(message) {
    this.setState('error');
    this.setStatus(message, true);
  }

  // ---- bpmn-js ------------------------------------------------------------------------------

  createModeler() {
    const { config, locale } = this;
    this.modeler = new BpmnModeler({
      container: this.canvasEl,
      propertiesPanel: { parent: this.panelEl, layout: { groups: OPEN_GROUPS } },
      linting: {
        active: true,
        bpmnlint: buildLintConfig({ roles: config.roles, forms: config.forms, locale }),
      },
      carepath: { ...config, locale },
      moddleExtensions: { camunda: camundaModdle },
      additionalModules: [
        BpmnPropertiesPanelModule,
        BpmnPropertiesProviderModule,
        CamundaPlatformPropertiesProviderModule,
        CamundaBehaviorsModule,
        CarePathPropertiesModule,
        lintModule,
        TokenSimulationModule,
        translateModule(locale),
      ],
    });
    const eventBus = this.modeler.get('eventBus');
    // Before the linter (priority 500) sees the imported model: derived refs filled in.
    eventBus.on('import.done', 1500, () => {
      completeFlowReferences(this.modeler.getDefinitions());
    });
    eventBus.on('linting.completed', ({ issues }) => {
      this.lint = lintProblems(issues);
      this.linted += 1;
      this.el.dataset.linted = String(this.linted);
      this.renderProblems();
    });
    eventBus.on('commandStack.changed', () => {
      if (this.importing) {
        return;
      }
      this.updateDirty();
      this.scheduleValidate();
    });
    eventBus.on('tokenSimulation.toggleMode', ({ active }) => {
      this.simulateButton.setAttribute('aria-pressed', String(Boolean(active)));
      this.simulateButton.classList.toggle('cp-active-toggle', Boolean(active));
      this.setStatus(active ? this.t.simulationOn : this.t.simulationOff);
    });
  }

  async open(xml) {
    this.importing = true;
    try {
      await this.modeler.importXML(xml);
    } finally {
      this.importing = false;
    }
    fitDiagram(this.modeler.get('canvas'), this.canvasEl);
  }

  commandStack() {
    return this.modeler.get('commandStack');
  }

  async currentXML(format = true) {
    const { xml } = await this.modeler.saveXML({ format });
    return xml;
  }

  processId() {
    if (this.config.processId) {
      return this.config.processId;
    }
    const definitions = this.modeler.getDefinitions();
    const process = ((definitions && definitions.rootElements) || []).find((r) => r.$type === 'bpmn:Process');
    return (process && process.id) || 'diagram';
  }

  // ---- problems ---------------------------------------------------------------------------

  renderProblems() {
    this.markers = showProblems(this.modeler, {
      problems: sortProblems([...this.engine, ...this.lint]),
      previousMarkers: this.markers,
      el: this.el,
      list: this.problemsList,
      title: this.problemsTitle,
      t: this.t,
    });
  }

  // ---- engine validation ------------------------------------------------------------------

  scheduleValidate() {
    if (!this.el.dataset.validateUrl) {
      return;
    }
    clearTimeout(this.validateTimer);
    this.validateTimer = setTimeout(() => this.validate(), VALIDATE_DELAY_MS);
  }

  async validate() {
    const url = this.el.dataset.validateUrl;
    if (!url) {
      return;
    }
    const seq = ++this.validateSeq;
    const xml = await this.currentXML();
    let answer = null;
    let failure = null;
    try {
      answer = await request(url, { method: 'POST', body: xml, headers: { 'Content-Type': 'application/xml' } });
    } catch (err) {
      failure = err instanceof NetworkError ? this.t.network : String(err);
    }
    if (seq !== this.validateSeq) {
      return; // a newer check is on its way: this answer is about an older diagram
    }
    if (answer && answer.ok && answer.data && Array.isArray(answer.data.problems)) {
      this.engine = engineProblems(answer.data.problems);
      this.renderProblems();
    } else if (!this.busy) {
      this.setStatus(failure || errorText(answer, this.t), true);
    }
    this.checks += 1;
    this.el.dataset.checks = String(this.checks);
  }

  // ---- save, deploy, export, import -------------------------------------------------------

  setBusy(busy) {
    this.busy = busy;
    for (const b of [this.saveButton, this.deployButton, this.importButton]) {
      if (b) {
        b.disabled = busy;
      }
    }
  }

  /** Save the diagram; true when the server took it. */
  async save() {
    const { t } = this;
    if (this.readonly || !this.el.dataset.saveUrl) {
      return false;
    }
    this.setBusy(true);
    this.setState('saving');
    this.setStatus(t.saving);
    try {
      const top = this.topOfStack();
      const xml = await this.currentXML();
      let answer;
      try {
        answer = await request(this.el.dataset.saveUrl, {
          method: 'POST',
          body: xml,
          headers: { 'Content-Type': 'application/xml', 'X-Revision': String(this.revision) },
        });
      } catch (err) {
        this.fail(t.network);
        return false;
      }
      if (!answer.ok || !answer.data || typeof answer.data !== 'object') {
        this.fail(errorText(answer, t)); // 409: someone else saved; the diagram stays as it is
        return false;
      }
      if (Number.isInteger(answer.data.revision)) {
        this.revision = answer.data.revision;
        this.el.dataset.revision = String(this.revision);
      }
      this.engine = engineProblems(answer.data.problems);
      this.renderProblems();
      this.markSaved(top);
      this.setState('saved');
      this.setStatus(t.saved(answer.data.saved_at));
      return true;
    } finally {
      this.setBusy(false);
    }
  }

  async deploy() {
    const { t } = this;
    const comment = this.commentInput.value.trim();
    if (!comment) {
      this.fail(t.commentRequired);
      this.commentInput.focus();
      return;
    }
    if (this.dirty && !(await this.save())) {
      return;
    }
    this.setBusy(true);
    this.setState('deploying');
    this.setStatus(t.deploying);
    let answer;
    try {
      answer = await request(this.el.dataset.deployUrl, {
        method: 'POST',
        body: JSON.stringify({ comment, revision: this.revision }),
        headers: { 'Content-Type': 'application/json' },
      });
    } catch (err) {
      this.setBusy(false);
      this.fail(t.network);
      return;
    }
    const data = answer.data && typeof answer.data === 'object' ? answer.data : {};
    if (answer.ok && typeof data.url === 'string') {
      this.setStatus(t.deployed);
      window.location.assign(data.url);
      return;
    }
    this.setBusy(false);
    if (Array.isArray(data.problems)) {
      this.engine = engineProblems(data.problems);
      this.renderProblems();
    }
    this.fail(errorText(answer, t));
  }

  async exportFile() {
    const xml = await this.currentXML(true);
    download(downloadName(this.processId(), '.bpmn'), xml, 'application/xml');
  }

  async importFile(file) {
    const { t } = this;
    const text = await readFile(file);
    const before = this.modeler.getDefinitions();
    const previous = await this.currentXML(false);
    const wasDirty = this.dirty;
    try {
      await this.open(text);
    } catch (err) {
      if (this.modeler.getDefinitions() !== before || !this.modeler.get('elementRegistry').getAll().length) {
        await this.open(previous); // the failed import had cleared the canvas: put the diagram back
        this.unsavedImport = wasDirty;
        this.savedTop = this.topOfStack();
      }
      this.updateDirty();
      this.fail(t.importFailed(err && err.message ? err.message : String(err)));
      return;
    }
    this.unsavedImport = true;
    this.engine = []; // they were about the previous diagram; the next check reports on this one
    this.renderProblems();
    this.updateDirty();
    this.setState('idle');
    this.setStatus(t.imported(file.name));
    this.scheduleValidate();
  }

  wire() {
    this.saveButton.addEventListener('click', () => { this.save(); });
    this.exportButton.addEventListener('click', () => { this.exportFile(); });
    this.importButton.addEventListener('click', () => this.fileInput.click());
    this.fileInput.addEventListener('change', () => {
      const file = this.fileInput.files && this.fileInput.files[0];
      this.fileInput.value = '';
      if (file) {
        this.importFile(file);
      }
    });
    this.simulateButton.addEventListener('click', () => {
      this.modeler.get('toggleMode').toggleMode();
    });
    if (this.deployButton) {
      this.deployButton.addEventListener('click', () => { this.deploy(); });
      this.commentInput.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') {
          event.preventDefault();
          this.deploy();
        }
      });
    }
  }
}

Object.assign(ModelerIsland.prototype, dirtyTracking);

async function mountModeler(el) {
  const config = readJSON(el, 'config', {}) || {};
  const locale = configLocale(config, localeOf(el));
  const t = messages(locale);
  const xml = await fetchSource(el, t, { missing: t.openFailed, failed: t.sourceFetch, accept: 'application/xml' });

  const island = new ModelerIsland(el, config, locale);
  island.createModeler();
  try {
    await island.open(xml);
  } catch (err) {
    island.modeler.destroy();
    throw new IslandError(t.openFailed(err && err.message ? err.message : String(err)));
  }
  island.markSaved(island.topOfStack());
  island.wire();
  island.setStatus(island.readonly ? t.readonly : '');
  await afterNextFrame(); // the properties panel renders on the next frame
  island.renderProblems();
  island.validate();

  const ns = (window.CarePath = window.CarePath || {});
  ns.modelers = ns.modelers || [];
  ns.modelers.push(island.modeler);
  island.modeler.carepath = island; // tests and other scripts: state and actions of the island
  return island.modeler;
}

mountAll('mountModelers', 'div.cp-modeler', mountModeler);
