// node --test test/ : the modeler's lint configuration (bpmnlint recommended + plugin carepath)
// on small BPMN fixtures, one failing and one passing per carepath rule, and on the library.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import bpmnlint from 'bpmnlint';
import { BpmnModdle } from 'bpmn-moddle';

import { buildLintConfig, ruleLevels } from '../src/lint/config.js';
import { completeFlowReferences } from '../src/lint/model.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..', '..');
const PATHWAYS = path.join(ROOT, 'pathways');
const FORMS = path.join(ROOT, 'forms');
const camunda = JSON.parse(
  readFileSync(path.join(here, '..', 'node_modules', 'camunda-bpmn-moddle', 'resources', 'camunda.json'), 'utf8'),
);

/** Every issue as {rule, id, category, message}, linting the way the modeler does. */
async function lint(xml, options = {}) {
  const moddle = new BpmnModdle({ camunda });
  const { rootElement } = await moddle.fromXML(xml);
  completeFlowReferences(rootElement);
  const linter = new bpmnlint.Linter(buildLintConfig(options));
  const results = await linter.lint(rootElement);
  return Object.entries(results).flatMap(([rule, reports]) => reports.map((r) => ({
    rule, id: r.id, category: r.category, message: r.message,
  })));
}

const only = (issues, rule) => issues.filter((i) => i.rule === rule);

/** A one-process diagram with DI generated for every node in a row. */
function diagram(body, { nodes = [], flows = [] } = {}) {
  const shapes = nodes.map((id, i) => `<bpmndi:BPMNShape id="${id}_di" bpmnElement="${id}">`
    + `<dc:Bounds x="${100 + i * 150}" y="${id.startsWith('b_') ? 160 : 80}" width="100" height="80"/></bpmndi:BPMNShape>`);
  const edges = flows.map((id) => `<bpmndi:BPMNEdge id="${id}_di" bpmnElement="${id}">`
    + '<di:waypoint x="0" y="0"/><di:waypoint x="1" y="1"/></bpmndi:BPMNEdge>');
  return `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  id="defs" targetNamespace="http://carepath.example/bpmn">
  <bpmn:process id="p" name="测试" isExecutable="true">${body}</bpmn:process>
  <bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="plane" bpmnElement="p">${shapes.join('')}${edges.join('')}
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>`;
}

/** start -> task(attrs, inner) -> end. */
function oneTask(attrs, inner = '', { lanes = '' } = {}) {
  return diagram(`${lanes}
    <bpmn:startEvent id="s" name="开始"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <bpmn:userTask id="t" name="任务" ${attrs}>${inner}</bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
    <bpmn:endEvent id="e" name="结束"/>`, { nodes: ['s', 't', 'e'], flows: ['f1', 'f2'] });
}

/** start -> timer catch event (definition) -> end. */
function oneTimer(definition) {
  return diagram(`
    <bpmn:startEvent id="s" name="开始"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="w"/>
    <bpmn:intermediateCatchEvent id="w" name="等待"><bpmn:timerEventDefinition id="td">${definition}</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="w" targetRef="e"/>
    <bpmn:endEvent id="e" name="结束"/>`, { nodes: ['s', 'w', 'e'], flows: ['f1', 'f2'] });
}

const ROLES = [{ code: 'health.doctor', name: '医生' }, { code: 'education.teacher', name: '班主任' }];
const CONFIG = { roles: ROLES, forms: ['x/a.form'], locale: 'zh' };

test('a clean one-task pathway has no findings at all', async () => {
  const issues = await lint(oneTask('camunda:candidateGroups="health.doctor" camunda:formKey="x/a.form" camunda:dueDate="P3D"'), CONFIG);
  assert.deepEqual(issues, []);
});

test('owner-role: a task without any owner and outside a lane fails', async () => {
  const issues = only(await lint(oneTask(''), CONFIG), 'carepath/owner-role');
  assert.equal(issues.length, 1);
  assert.equal(issues[0].id, 't');
  assert.equal(issues[0].category, 'error');
  assert.match(issues[0].message, /没有负责人/);
});

test('owner-role: an unknown role is named in Chinese; expressions and known roles pass', async () => {
  const bad = only(await lint(oneTask('camunda:candidateGroups="health.doctor, health.nobody"'), CONFIG), 'carepath/owner-role');
  assert.deepEqual(bad.map((i) => i.message), ['角色 health.nobody 不存在']);
  for (const attrs of [
    'camunda:candidateGroups="health.doctor,education.teacher"',
    'camunda:candidateGroups="${owner_roles}"',
    'camunda:candidateGroups="health.doctor,${extra_role}"',
    'camunda:assignee="wang"',
    'camunda:candidateUsers="wang,li"',
  ]) {
    assert.deepEqual(only(await lint(oneTask(attrs), CONFIG), 'carepath/owner-role'), [], attrs);
  }
});

test('owner-role: English messages with locale en', async () => {
  const bad = only(await lint(oneTask('camunda:candidateGroups="health.nobody"'), { ...CONFIG, locale: 'en' }), 'carepath/owner-role');
  assert.deepEqual(bad.map((i) => i.message), ['role health.nobody does not exist']);
});

test('owner-role: a task in a lane named after a role passes; a lane that is no role fails', async () => {
  const lanes = (name) => `<bpmn:laneSet id="ls"><bpmn:lane id="l" name="${name}">
    <bpmn:flowNodeRef>s</bpmn:flowNodeRef><bpmn:flowNodeRef>t</bpmn:flowNodeRef><bpmn:flowNodeRef>e</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>`;
  assert.deepEqual(only(await lint(oneTask('', '', { lanes: lanes('医生') }), CONFIG), 'carepath/owner-role'), []);
  assert.deepEqual(only(await lint(oneTask('', '', { lanes: lanes('health.doctor') }), CONFIG), 'carepath/owner-role'), []);
  const bad = only(await lint(oneTask('', '', { lanes: lanes('后勤') }), CONFIG), 'carepath/owner-role');
  assert.equal(bad.length, 1);
  assert.match(bad[0].message, /泳道“后勤”/);
});

test('time-expression: malformed ISO text fails, literals and expressions pass', async () => {
  const base = 'camunda:candidateGroups="health.doctor" ';
  const bad = only(await lint(oneTask(`${base}camunda:dueDate="P3X"`), CONFIG), 'carepath/time-expression');
  assert.equal(bad.length, 1);
  assert.match(bad[0].message, /到期时间 P3X 不是有效的 ISO 8601/);
  for (const value of ['P3X', 'PT', '2026-13-01', '2026-02-30', '${workdays(5)', '${a} ${b}', 'R3/PT1H', '3D', 'workdays(5', 'x $ y']) {
    const found = only(await lint(oneTask(`${base}camunda:dueDate="${value}"`), CONFIG), 'carepath/time-expression');
    assert.equal(found.length, 1, `dueDate ${value} should fail`);
  }
  const follow = only(await lint(oneTask(`${base}camunda:followUpDate="P1Q"`), CONFIG), 'carepath/time-expression');
  assert.match(follow[0].message, /跟进时间 P1Q/);
  for (const value of ['P3D', 'PT2H', 'P1M', 'P2W', 'PT0.5H', 'p3d', '2026-10-09', '2026-10-09T09:00:00+08:00',
    '${workdays(5)}', '${ {"a": 1}["a"] }', 'workdays(5)', 'days(next_followup_days) + hours(2)', 'followup_week_at',
    '"P2D"', '随访日期']) {
    const found = only(await lint(oneTask(`${base}camunda:dueDate='${value}'`), CONFIG), 'carepath/time-expression');
    assert.deepEqual(found, [], `dueDate ${value} should pass`);
  }
});

test('time-expression: timers by kind; a timer without a time fails', async () => {
  const fails = [
    '<bpmn:timeDuration>P3X</bpmn:timeDuration>',
    '<bpmn:timeCycle>P1M</bpmn:timeCycle>',
    '<bpmn:timeCycle>R12/P1X</bpmn:timeCycle>',
    '<bpmn:timeDate>R2/P1D</bpmn:timeDate>',
    '<bpmn:timeDate>2026-1-5</bpmn:timeDate>',
    '<bpmn:timeDuration></bpmn:timeDuration>',
    '',
  ];
  for (const def of fails) {
    const found = only(await lint(oneTimer(def), CONFIG), 'carepath/time-expression');
    assert.equal(found.length, 1, `${def || 'no time'} should fail`);
    assert.equal(found[0].id, 'w', 'reported on the event, which the canvas shows');
  }
  const cycle = only(await lint(oneTimer('<bpmn:timeCycle>P1M</bpmn:timeCycle>'), CONFIG), 'carepath/time-expression');
  assert.match(cycle[0].message, /定时循环 P1M 应为循环格式/);
  for (const def of [
    '<bpmn:timeDuration>P1M</bpmn:timeDuration>', '<bpmn:timeCycle>R12/P1M</bpmn:timeCycle>',
    '<bpmn:timeCycle>R/2026-10-09T09:00:00+08:00/P1M</bpmn:timeCycle>', '<bpmn:timeCycle>R2/P1D/2026-10-09</bpmn:timeCycle>',
    '<bpmn:timeDate>2026-10-09T09:00</bpmn:timeDate>', '<bpmn:timeDate>workdays(20)</bpmn:timeDate>',
    '<bpmn:timeDuration>days(next_followup_days)</bpmn:timeDuration>', '<bpmn:timeCycle>${cycle_text}</bpmn:timeCycle>',
  ]) {
    assert.deepEqual(only(await lint(oneTimer(def), CONFIG), 'carepath/time-expression'), [], def);
  }
});

test('form-key: a form that is not in the list fails; listed forms and expressions pass', async () => {
  const base = 'camunda:candidateGroups="health.doctor" ';
  const bad = only(await lint(oneTask(`${base}camunda:formKey="x/missing.form"`), CONFIG), 'carepath/form-key');
  assert.deepEqual(bad.map((i) => [i.id, i.message]), [['t', '表单 x/missing.form 不存在']]);
  assert.deepEqual(only(await lint(oneTask(`${base}camunda:formKey="x/a.form"`), CONFIG), 'carepath/form-key'), []);
  assert.deepEqual(only(await lint(oneTask(`${base}camunda:formKey="\${form_of(stage)}"`), CONFIG), 'carepath/form-key'), []);
  assert.deepEqual(only(await lint(oneTask(`${base}`), CONFIG), 'carepath/form-key'), [], 'no form key: nothing to check');
});

function gateway({ gwAttrs = '', c1 = '', c2 = '' }) {
  const cond = (text) => (text ? `<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${text}</bpmn:conditionExpression>` : '');
  return diagram(`
    <bpmn:startEvent id="s" name="开始"/>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="g"/>
    <bpmn:exclusiveGateway id="g" name="阳性？" ${gwAttrs}/>
    <bpmn:sequenceFlow id="fa" name="是" sourceRef="g" targetRef="ea">${cond(c1)}</bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="fb" name="否" sourceRef="g" targetRef="eb">${cond(c2)}</bpmn:sequenceFlow>
    <bpmn:endEvent id="ea" name="甲"/><bpmn:endEvent id="eb" name="乙"/>`,
  { nodes: ['s', 'g', 'ea', 'b_eb'], flows: ['f0', 'fa', 'fb'] })
    .replace('xmlns:camunda=', 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda=')
    .replace('bpmnElement="b_eb"', 'bpmnElement="eb"');
}

test('gateway-default: two bare flows fail; a default or conditions on every flow pass', async () => {
  const bad = only(await lint(gateway({ c1: 'positive' }), CONFIG), 'carepath/gateway-default');
  assert.equal(bad.length, 1);
  assert.equal(bad[0].id, 'g');
  assert.match(bad[0].message, /否/);
  assert.deepEqual(only(await lint(gateway({ gwAttrs: 'default="fb"', c1: 'positive' }), CONFIG), 'carepath/gateway-default'), []);
  assert.deepEqual(only(await lint(gateway({ c1: 'positive', c2: 'not positive' }), CONFIG), 'carepath/gateway-default'), []);
});

test('reachable: a task no flow leads to fails; boundary events and event sub-processes count as reached', async () => {
  const bad = only(await lint(diagram(`
    <bpmn:startEvent id="s" name="开始"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e"/>
    <bpmn:endEvent id="e" name="结束"/>
    <bpmn:userTask id="orphan" name="孤立" camunda:candidateGroups="health.doctor"/>
    <bpmn:sequenceFlow id="f2" sourceRef="orphan" targetRef="e2"/>
    <bpmn:endEvent id="e2" name="结束二"/>`, { nodes: ['s', 'e', 'orphan', 'e2'], flows: ['f1', 'f2'] }), CONFIG), 'carepath/reachable');
  assert.deepEqual(bad.map((i) => i.id).sort(), ['e2', 'orphan']);
  assert.match(bad[0].message, /无法到达/);

  const good = await lint(diagram(`
    <bpmn:startEvent id="s" name="开始"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <bpmn:userTask id="t" name="任务" camunda:candidateGroups="health.doctor"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
    <bpmn:endEvent id="e" name="结束"/>
    <bpmn:boundaryEvent id="late" name="超时" attachedToRef="t" cancelActivity="false"><bpmn:timerEventDefinition id="lt"><bpmn:timeDuration>P2D</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="chase"/>
    <bpmn:userTask id="chase" name="催办" camunda:candidateGroups="health.doctor"/>
    <bpmn:sequenceFlow id="f4" sourceRef="chase" targetRef="e3"/>
    <bpmn:endEvent id="e3" name="催办结束"/>
    <bpmn:subProcess id="esp" name="撤回" triggeredByEvent="true">
      <bpmn:startEvent id="esp_s" name="收到撤回"><bpmn:messageEventDefinition id="md"/></bpmn:startEvent>
      <bpmn:sequenceFlow id="f5" sourceRef="esp_s" targetRef="esp_e"/>
      <bpmn:endEvent id="esp_e" name="已撤回"/>
    </bpmn:subProcess>`, { nodes: ['s', 't', 'e', 'b_late', 'chase', 'e3', 'esp', 'esp_s', 'esp_e'], flows: ['f1', 'f2', 'f3', 'f4', 'f5'] }), CONFIG);
  assert.deepEqual(only(good, 'carepath/reachable'), []);
});

test('rule configuration reaches the factories: without roles or forms those checks are skipped', async () => {
  const issues = await lint(oneTask('camunda:candidateGroups="health.nobody" camunda:formKey="x/none.form"'), { locale: 'zh' });
  assert.deepEqual(only(issues, 'carepath/owner-role'), []);
  assert.deepEqual(only(issues, 'carepath/form-key'), []);
});

test('recommended rules speak Chinese, and English with locale en', async () => {
  const xml = diagram(`
    <bpmn:startEvent id="s" name="开始"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <bpmn:userTask id="t" name="任务" camunda:candidateGroups="health.doctor"/>`, { nodes: ['s', 't'], flows: ['f1'] });
  const zh = only(await lint(xml, CONFIG), 'no-implicit-end');
  assert.deepEqual(zh.map((i) => [i.id, i.message]), [['t', '元素没有出口流（隐式结束），请连到结束事件']]);
  const en = only(await lint(xml, { ...CONFIG, locale: 'en' }), 'no-implicit-end');
  assert.deepEqual(en.map((i) => i.message), ['Element is an implicit end']);
});

test('the levels in force: recommended with CarePath overrides, carepath rules as errors', () => {
  const levels = ruleLevels();
  assert.equal(levels['fake-join'], 'off');
  assert.equal(levels['no-gateway-join-fork'], 'warn');
  assert.equal(levels['no-implicit-end'], 'error');
  for (const rule of ['owner-role', 'time-expression', 'form-key', 'gateway-default', 'reachable']) {
    assert.equal(levels[`carepath/${rule}`], 'error');
  }
});

// ---- the library --------------------------------------------------------------------------

function listForms(dir, prefix = '') {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) {
      return listForms(full, `${prefix}${name}/`);
    }
    return name.endsWith('.form') ? [`${prefix}${name}`] : [];
  });
}

const LIBRARY = readdirSync(PATHWAYS).filter((f) => f.endsWith('.bpmn')).sort();

function libraryRoles() {
  const codes = new Set(['health.supervisor']);
  for (const file of LIBRARY) {
    const xml = readFileSync(path.join(PATHWAYS, file), 'utf8');
    for (const m of xml.matchAll(/camunda:candidateGroups="([^"]*)"/g)) {
      m[1].split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('${')).forEach((s) => codes.add(s));
    }
  }
  return [...codes].map((code) => ({ code, name: code }));
}

test('the library has the ten pathways this test expects', () => {
  assert.equal(LIBRARY.length, 10, LIBRARY.join(', '));
});

test('every library pathway lints without errors, with its roles and forms', async () => {
  const config = { roles: libraryRoles(), forms: listForms(FORMS), locale: 'zh' };
  for (const file of LIBRARY) {
    const issues = await lint(readFileSync(path.join(PATHWAYS, file), 'utf8'), config);
    const errors = issues.filter((i) => i.category !== 'warn');
    assert.deepEqual(errors, [], `${file} has lint errors`);
    for (const warning of issues.filter((i) => i.category === 'warn')) {
      console.log(`# ${file}: ${warning.rule} ${warning.id} ${warning.message}`);
    }
  }
});

test('a library pathway with one role taken out of the directory fails owner-role', async () => {
  const roles = libraryRoles().filter((r) => r.code !== 'education.teacher');
  const xml = readFileSync(path.join(PATHWAYS, 'school_screening.bpmn'), 'utf8');
  const issues = only(await lint(xml, { roles, forms: listForms(FORMS), locale: 'zh' }), 'carepath/owner-role');
  assert.deepEqual(issues.map((i) => [i.id, i.message]), [['screening', '角色 education.teacher 不存在']]);
});

test('without completing flow references every library node would look disconnected', async () => {
  const moddle = new BpmnModdle({ camunda });
  const { rootElement } = await moddle.fromXML(readFileSync(path.join(PATHWAYS, 'school_screening.bpmn'), 'utf8'));
  const results = await new bpmnlint.Linter(buildLintConfig({})).lint(rootElement);
  assert.ok((results['no-disconnected'] || []).length > 10, 'the library files omit <bpmn:incoming>/<bpmn:outgoing>');
  assert.ok(completeFlowReferences(rootElement) > 0);
  assert.equal(completeFlowReferences(rootElement), 0, 'idempotent');
});
