// node --test test/ : the pure parts of the modeler and form editor islands.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { timeExpressionProblem, isCycle, isDuration, isInstant, pythonLikeProblem } from '../src/lint/time-expression.js';
import { formFileText, inFileOrder, schemaToSave } from '../src/modeler/form-schema.js';
import {
  engineProblems, errorCount, lintProblems, markersByElement, sortProblems,
} from '../src/modeler/problems.js';
import { PANEL_ZH, translatorFor } from '../src/modeler/translate.js';
import { downloadName, formEditorHref } from '../src/modeler/urls.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FORMS = path.resolve(here, '..', '..', '..', 'forms');

test('ISO 8601 pieces as the engine reads them', () => {
  for (const ok of ['P3D', 'PT2H', 'P1M', 'P2W', 'P1Y2M3DT4H5M6S', 'PT0.5H', 'p3d']) {
    assert.ok(isDuration(ok), ok);
  }
  for (const bad of ['P', 'PT', 'P3X', 'P1.5M', '3D', 'PT2']) {
    assert.ok(!isDuration(bad), bad);
  }
  assert.ok(isInstant('2026-02-28') && isInstant('2026-10-09T09:00:00+08:00') && isInstant('2026-10-09 09:00'));
  assert.ok(!isInstant('2026-02-30') && !isInstant('2026-13-01') && !isInstant('2026-10-09T25:00'));
  assert.ok(isCycle('R12/P1M') && isCycle('R/P1D') && isCycle('R3/2026-10-09T09:00/PT1H') && isCycle('R2/P1D/2026-10-09'));
  assert.ok(!isCycle('R12/P1X') && !isCycle('R12') && !isCycle('R/2026-10-09'));
});

test('time values: reasons for what is wrong', () => {
  assert.equal(timeExpressionProblem('P3X'), 'iso');
  assert.equal(timeExpressionProblem('2026-02-30'), 'iso');
  assert.equal(timeExpressionProblem(''), 'empty');
  assert.equal(timeExpressionProblem('R3/PT1H'), 'not-cycle');
  assert.equal(timeExpressionProblem('PT1H', 'cycle'), 'not-cycle');
  assert.equal(timeExpressionProblem('R3/PT1H', 'cycle'), null);
  assert.equal(timeExpressionProblem('${workdays(5)'), 'braces');
  assert.equal(timeExpressionProblem('${a} + ${b}'), 'braces');
  assert.equal(timeExpressionProblem('${workdays(5'), 'braces');
  assert.equal(timeExpressionProblem('${workdays(5}'), 'expression');
  assert.equal(timeExpressionProblem('${workdays((5)}'), 'expression');
  assert.equal(timeExpressionProblem('${workdays(5)}'), null);
  assert.equal(timeExpressionProblem('workdays(5) + hours(2)'), null);
  assert.equal(timeExpressionProblem("due_at if flag else '2026-10-09'"), null);
  assert.equal(pythonLikeProblem('a $ b'), 'token');
  assert.equal(pythonLikeProblem('"open'), 'quote');
  assert.equal(pythonLikeProblem('f(a]'), 'brackets');
});

test('lint issues and engine problems become one list with severities', () => {
  const issues = {
    participant_x: [{ id: 'participant_x', actualElementId: 'proc', message: '流程缺少结束事件', category: 'error', rule: 'end-event-required' }],
    task_a: [
      { id: 'task_a', message: '角色 health.nobody 不存在', category: 'error', rule: 'carepath/owner-role' },
      { id: 'task_a', message: '网关既汇合又分支', category: 'warn', rule: 'no-gateway-join-fork' },
    ],
  };
  const lint = lintProblems(issues);
  assert.deepEqual(lint.map((p) => [p.element, p.shownOn, p.severity, p.source]), [
    ['proc', 'participant_x', 'error', 'lint'],
    ['task_a', 'task_a', 'error', 'lint'],
    ['task_a', 'task_a', 'warn', 'lint'],
  ]);
  const engine = engineProblems([
    { element: 'task_b', line: 12, message: '表达式无法编译' },
    { element: null, line: 3, message: '文件过大', severity: 'warning' },
    { element: 'x' },
  ]);
  assert.deepEqual(engine.map((p) => [p.element, p.line, p.severity]), [['task_b', 12, 'error'], ['', 3, 'warn']]);
  const all = sortProblems([...lint, ...engine]);
  assert.deepEqual(all.map((p) => `${p.source}:${p.severity}:${p.element}`), [
    'engine:error:task_b', 'lint:error:proc', 'lint:error:task_a', 'engine:warn:', 'lint:warn:task_a',
  ]);
  assert.equal(errorCount(all), 3);
  const markers = markersByElement(all);
  assert.equal(markers.get('task_a'), 'cp-problem-error', 'an error wins over a warning');
  assert.equal(markers.get('participant_x'), 'cp-problem-error');
  assert.equal(markers.get('task_b'), 'cp-problem-error');
  assert.ok(!markers.has(''));
});

test('form editor link: each path segment encoded, slashes kept', () => {
  assert.equal(formEditorHref('/modeler/forms/__KEY__', 'school_screening/screening.form'),
    '/modeler/forms/school_screening/screening.form');
  assert.equal(formEditorHref('/modeler/forms/__KEY__', 'a b/筛查#1.form'),
    '/modeler/forms/a%20b/%E7%AD%9B%E6%9F%A5%231.form');
  assert.equal(formEditorHref('/modeler/forms/x', 'a.form'), null);
  assert.equal(formEditorHref('/modeler/forms/__KEY__', ''), null);
  assert.equal(downloadName('school_screening/screening.form', '.form'), 'screening.form');
  assert.equal(downloadName('school_screening', '.bpmn'), 'school_screening.bpmn');
});

function libraryForms(dir) {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? libraryForms(full) : (name.endsWith('.form') ? [full] : []);
  });
}

test('a library form written back by the island is byte for byte the file', () => {
  const files = libraryForms(FORMS);
  assert.ok(files.length > 10);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const schema = JSON.parse(text);
    // the editor hands keys back in its own order: shuffle them to make sure order is restored
    const shuffled = Object.fromEntries(Object.entries(schema).reverse());
    shuffled.components = schema.components.map((c) => Object.fromEntries(Object.entries(c).reverse()));
    assert.equal(formFileText(inFileOrder(shuffled, schema)), text, path.relative(FORMS, file));
  }
});

test('a field moved in the editor keeps its own key order (matched by id)', () => {
  const original = { type: 'default', components: [
    { type: 'textfield', key: 'a', label: 'A', id: 'Field_a' }, { type: 'text', text: 'hi', id: 'Text_b' }] };
  const saved = { components: [{ id: 'Text_b', text: 'hi', type: 'text' }, { id: 'Field_a', label: 'A', key: 'a', type: 'textfield' },
    { id: 'Field_new', label: 'N', key: 'n', type: 'number', validate: { required: true } }], type: 'default' };
  const out = inFileOrder(saved, original);
  assert.deepEqual(out.components.map((c) => Object.keys(c)), [
    ['type', 'text', 'id'], ['type', 'key', 'label', 'id'], ['type', 'key', 'label', 'id', 'validate']]);
});

test('saving keeps the form\'s exporter, or names CarePath', () => {
  const saved = { components: [], type: 'default', id: 'f', schemaVersion: 19, exporter: { name: 'form-js' } };
  assert.deepEqual(schemaToSave(saved, { exporter: { name: 'Camunda Modeler', version: '5' } }).exporter,
    { name: 'Camunda Modeler', version: '5' });
  const fresh = schemaToSave({ components: [], type: 'default', id: 'f', schemaVersion: 19 }, {});
  assert.deepEqual(fresh.exporter, { name: 'CarePath', version: '0.1.0' });
  assert.deepEqual(Object.keys(fresh), ['type', 'id', 'schemaVersion', 'exporter', 'components']);
  assert.ok(formFileText(fresh).endsWith('}\n'));
});

test('Chinese labels of the properties panel: required ones present, each one a real panel text', () => {
  const t = translatorFor('zh');
  for (const label of ['General', 'Name', 'ID', 'Documentation', 'User assignment', 'Assignee', 'Candidate groups',
    'Candidate users', 'Due date', 'Follow up date', 'Priority', 'Forms', 'Form key', 'Type', 'Timer', 'Value',
    'Condition expression', 'Extension properties', 'User Task', 'Exclusive Gateway', 'Sequence Flow', 'Process']) {
    assert.ok(PANEL_ZH[label], `no Chinese for ${label}`);
    assert.equal(t(label), PANEL_ZH[label]);
  }
  assert.equal(t('Append task'), '添加任务', 'bpmn-js texts come from bpmn-js-i18n');
  assert.equal(t('{errors} Errors, {warnings} Warnings', { errors: 2, warnings: 1 }), '2 个错误，1 个警告');
  assert.equal(translatorFor('en')('Due date'), 'Due date');
  // a key that no package uses would never show: every key must occur in one of the sources
  const sources = [
    'bpmn-js-properties-panel/dist/index.esm.js', '@bpmn-io/properties-panel/dist/index.esm.js',
    'bpmn-js-bpmnlint/dist/index.esm.js', 'bpmn-js-token-simulation/lib/features/toggle-mode/modeler/ToggleMode.js',
  ].map((p) => readFileSync(path.resolve(here, '..', 'node_modules', p), 'utf8')).join('\n');
  const typeLabels = /^[A-Z][a-z]+( [A-Z(][A-Za-z)]*)+$|^(Process|Collaboration|Participant|Lane|Task)$/;
  for (const key of Object.keys(PANEL_ZH)) {
    const quoted = sources.includes(`'${key}'`) || sources.includes(`"${key}"`) || sources.includes(`\`${key}\``);
    const typeLabel = typeLabels.test(key); // header labels are built from type names ("UserTask" -> "User Task")
    assert.ok(quoted || typeLabel || sources.includes(key.replace(/ /g, '')), `"${key}" is not a text of the panel`);
  }
});
