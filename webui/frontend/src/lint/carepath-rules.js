// The bpmnlint plugin `carepath`: what a CarePath pathway needs beyond plain BPMN.
//
//   carepath/owner-role       every user / manual task has an owner, and its roles exist
//   carepath/time-expression  due dates, follow-up dates and timers read as times
//   carepath/form-key         the task's form is one of the forms the analyst may pick
//   carepath/gateway-default  a deciding gateway has a default flow or a condition on every flow
//   carepath/reachable        every flow node can be reached from a start event
//
// Each export is a bpmnlint rule factory: bpmnlint calls it with the rule's configuration (the
// second item of `"carepath/owner-role": ["error", {...}]`) and walks the model with `check`.
// Configuration: { roles: [code | {code, name}], forms: [key], locale: 'zh' | 'en' }. Without
// `roles` (or `forms`) the existence checks are skipped. Factories keep no state between runs.

import {
  camundaAttr, is, isAny, laneOf, outgoingFlows,
} from './model.js';
import { timeExpressionProblem, unwrapExpression } from './time-expression.js';

const MESSAGES = {
  zh: {
    noOwner: '任务没有负责人：请设置候选组、办理人或候选用户，或把任务放进泳道',
    unknownRole: (role) => `角色 ${role} 不存在`,
    laneNotRole: (lane) => `泳道“${lane}”不是已知角色的代码或名称，任务没有负责人`,
    time: {
      empty: (what) => `${what}为空`,
      iso: (what, v) => `${what} ${v} 不是有效的 ISO 8601 时间（例如 P3D、PT2H、R12/P1M、2026-10-09）`,
      'not-cycle': (what, v) => (what === TIME_LABELS.zh.timeCycle
        ? `${what} ${v} 应为循环格式 R[次数]/时长，例如 R12/P1M`
        : `${what} ${v} 是循环定义，这里只能是一个时间或时长`),
      braces: (what, v) => `${what} ${v} 的 \${...} 括号不配对，或表达式不是整个值`,
      expression: (what, v) => `${what} ${v} 既不是 ISO 8601 时间，也不是有效的表达式`,
    },
    timerMissing: '定时器缺少时间设置（日期、时长或循环）',
    unknownForm: (key) => `表单 ${key} 不存在`,
    gatewayDefault: (flows) => `网关有多条出口，但没有默认流，以下流缺少条件：${flows}`,
    unreachable: '从开始事件无法到达此元素',
  },
  en: {
    noOwner: 'The task has no owner: set candidate groups, an assignee or candidate users, or put it in a lane',
    unknownRole: (role) => `role ${role} does not exist`,
    laneNotRole: (lane) => `lane "${lane}" is not the code or name of a known role, so the task has no owner`,
    time: {
      empty: (what) => `${what} is empty`,
      iso: (what, v) => `${what} ${v} is not a valid ISO 8601 time (e.g. P3D, PT2H, R12/P1M, 2026-10-09)`,
      'not-cycle': (what, v) => (what === TIME_LABELS.en.timeCycle
        ? `${what} ${v} must be a cycle R[count]/duration, e.g. R12/P1M`
        : `${what} ${v} is a cycle; only a single time or duration fits here`),
      braces: (what, v) => `${what} ${v}: the braces of \${...} do not match, or the expression is not the whole value`,
      expression: (what, v) => `${what} ${v} is neither an ISO 8601 time nor a valid expression`,
    },
    timerMissing: 'The timer has no time (date, duration or cycle)',
    unknownForm: (key) => `form ${key} does not exist`,
    gatewayDefault: (flows) => `The gateway has several outgoing flows but no default flow; these flows have no condition: ${flows}`,
    unreachable: 'This element cannot be reached from a start event',
  },
};

const TIME_LABELS = {
  zh: { dueDate: '到期时间', followUpDate: '跟进时间', timeDate: '定时日期', timeDuration: '定时时长', timeCycle: '定时循环' },
  en: { dueDate: 'Due date', followUpDate: 'Follow-up date', timeDate: 'Timer date', timeDuration: 'Timer duration', timeCycle: 'Timer cycle' },
};

/** The rule's messages for its configured locale (Chinese unless 'en'). */
function localeOf(config) {
  return config && typeof config.locale === 'string' && config.locale.toLowerCase().startsWith('en') ? 'en' : 'zh';
}

function roleCodes(config) {
  if (!config || !Array.isArray(config.roles)) {
    return null;
  }
  return new Set(config.roles.map((r) => (typeof r === 'string' ? r : r && r.code)).filter(Boolean));
}

function roleNames(config) {
  return new Set(((config && config.roles) || []).map((r) => r && r.name).filter(Boolean));
}

/** A bpmnlint rule definition; `meta.documentation` keeps bpmn-js-bpmnlint's overlay happy. */
function rule(check) {
  return { meta: { documentation: {} }, check };
}

/** Items of a comma-separated owner attribute; `${...}` items are expressions (not checked). */
export function ownerItems(text) {
  if (!text || unwrapExpression(text) !== null) {
    return [];
  }
  return text.split(',').map((s) => s.trim()).filter((s) => s && unwrapExpression(s) === null);
}

export function ownerRole(config) {
  const t = MESSAGES[localeOf(config)];
  const codes = roleCodes(config);
  const names = roleNames(config);
  return rule((node, reporter) => {
    if (!isAny(node, ['bpmn:UserTask', 'bpmn:ManualTask'])) {
      return;
    }
    const groups = camundaAttr(node, 'candidateGroups');
    const hasOwner = groups || camundaAttr(node, 'assignee') || camundaAttr(node, 'candidateUsers');
    if (!hasOwner) {
      const lane = laneOf(node);
      if (!lane) {
        reporter.report(node.id, t.noOwner, ['candidateGroups']);
      } else if (codes) {
        const name = (lane.name || '').trim();
        if (!codes.has(name) && !names.has(name)) {
          reporter.report(node.id, t.laneNotRole(name || lane.id), ['candidateGroups']);
        }
      }
      return;
    }
    if (!codes) {
      return;
    }
    for (const role of ownerItems(groups)) {
      if (!codes.has(role)) {
        reporter.report(node.id, t.unknownRole(role), ['candidateGroups']);
      }
    }
  });
}

export function timeExpression(config) {
  const locale = localeOf(config);
  const t = MESSAGES[locale];
  const labels = TIME_LABELS[locale];
  const checkValue = (reporter, id, field, value, kind, path) => {
    const problem = timeExpressionProblem(value, kind);
    if (problem) {
      reporter.report(id, t.time[problem](labels[field], (value || '').trim()), path);
    }
  };
  return rule((node, reporter) => {
    if (is(node, 'bpmn:UserTask')) {
      for (const field of ['dueDate', 'followUpDate']) {
        const value = camundaAttr(node, field);
        if (value) { // an absent or blank attribute means "no due date"
          checkValue(reporter, node.id, field, value, 'moment', [field]);
        }
      }
      return;
    }
    if (!is(node, 'bpmn:TimerEventDefinition')) {
      return;
    }
    const event = node.$parent;
    const id = (event && event.id) || node.id;
    const fields = ['timeDate', 'timeDuration', 'timeCycle'].filter((f) => node[f]);
    if (!fields.length) {
      reporter.report(id, t.timerMissing, ['eventDefinitions']);
      return;
    }
    for (const field of fields) {
      checkValue(reporter, id, field, node[field].body, field === 'timeCycle' ? 'cycle' : 'moment',
        ['eventDefinitions', field]);
    }
  });
}

export function formKey(config) {
  const t = MESSAGES[localeOf(config)];
  const forms = config && Array.isArray(config.forms) ? new Set(config.forms) : null;
  return rule((node, reporter) => {
    if (!forms || !isAny(node, ['bpmn:UserTask', 'bpmn:StartEvent'])) {
      return;
    }
    const key = camundaAttr(node, 'formKey');
    if (key && unwrapExpression(key) === null && !forms.has(key)) {
      reporter.report(node.id, t.unknownForm(key), ['formKey']);
    }
  });
}

export function gatewayDefault(config) {
  const t = MESSAGES[localeOf(config)];
  return rule((node, reporter) => {
    if (!isAny(node, ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway'])) {
      return;
    }
    const flows = outgoingFlows(node);
    if (flows.length < 2 || node.default) {
      return;
    }
    const bare = flows.filter((flow) => !flow.conditionExpression);
    if (bare.length) {
      reporter.report(node.id, t.gatewayDefault(bare.map((f) => f.name || f.id).join('、')), ['default']);
    }
  });
}

/**
 * The flow nodes of `process` that no token can reach: sequence flows from the start events of
 * the process (not of event sub-processes), boundary events of reached activities, the start
 * events of reached sub-processes, event sub-processes of reached scopes, and link events by name.
 * Scopes without any start event are left to bpmnlint's start-event-required.
 */
export function unreachableNodes(process) {
  const reached = new Set();
  const queue = [];
  const scopes = new Map(); // container -> its flow nodes
  const visitScope = (container) => {
    const nodes = (container.flowElements || []).filter((el) => is(el, 'bpmn:FlowNode'));
    scopes.set(container, nodes);
    nodes.filter((n) => n.flowElements).forEach(visitScope);
  };
  visitScope(process);

  const flowsFrom = new Map();
  const boundaries = new Map();
  const linkCatches = new Map(); // container -> name -> [catch events]
  for (const [container, nodes] of scopes) {
    for (const el of container.flowElements || []) {
      if (is(el, 'bpmn:SequenceFlow') && el.sourceRef && el.targetRef) {
        if (!flowsFrom.has(el.sourceRef)) {
          flowsFrom.set(el.sourceRef, []);
        }
        flowsFrom.get(el.sourceRef).push(el.targetRef);
      }
    }
    for (const n of nodes) {
      if (is(n, 'bpmn:BoundaryEvent') && n.attachedToRef) {
        if (!boundaries.has(n.attachedToRef)) {
          boundaries.set(n.attachedToRef, []);
        }
        boundaries.get(n.attachedToRef).push(n);
      }
      const link = linkName(n);
      if (link !== null && is(n, 'bpmn:IntermediateCatchEvent')) {
        if (!linkCatches.has(container)) {
          linkCatches.set(container, new Map());
        }
        const byName = linkCatches.get(container);
        byName.set(link, [...(byName.get(link) || []), n]);
      }
    }
  }

  const startsOf = (container) => (scopes.get(container) || []).filter(
    (n) => is(n, 'bpmn:StartEvent'),
  );
  const enterScope = (container) => {
    startsOf(container).forEach(reach);
    // event sub-processes wait for their trigger as long as their parent scope runs
    (scopes.get(container) || [])
      .filter((n) => is(n, 'bpmn:SubProcess') && n.triggeredByEvent)
      .forEach(reach);
  };
  function reach(node) {
    if (!reached.has(node)) {
      reached.add(node);
      queue.push(node);
    }
  }

  const topStarts = startsOf(process);
  if (!topStarts.length) {
    return [];
  }
  enterScope(process);
  while (queue.length) {
    const node = queue.shift();
    (flowsFrom.get(node) || []).forEach(reach);
    (boundaries.get(node) || []).forEach(reach);
    if (is(node, 'bpmn:SubProcess')) {
      if (is(node, 'bpmn:AdHocSubProcess')) {
        (scopes.get(node) || []).forEach(reach); // any inner activity may start
      } else {
        enterScope(node);
      }
    }
    const link = linkName(node);
    if (link !== null && is(node, 'bpmn:IntermediateThrowEvent')) {
      const byName = linkCatches.get(node.$parent);
      ((byName && byName.get(link)) || []).forEach(reach);
    }
  }

  const unreachable = [];
  for (const [container, nodes] of scopes) {
    if (container !== process && !reached.has(container)) {
      continue; // the container itself is reported; its inner nodes follow from it
    }
    if (container !== process && !startsOf(container).length && !is(container, 'bpmn:AdHocSubProcess')) {
      continue; // a sub-process without a start event: start-event-required reports it
    }
    for (const n of nodes) {
      if (!reached.has(n) && !(is(n, 'bpmn:Activity') && n.isForCompensation)) {
        unreachable.push(n);
      }
    }
  }
  return unreachable;
}

function linkName(node) {
  const defs = node.eventDefinitions || [];
  const link = defs.find((d) => is(d, 'bpmn:LinkEventDefinition'));
  return link ? (link.name || '') : null;
}

export function reachable(config) {
  const t = MESSAGES[localeOf(config)];
  return rule((node, reporter) => {
    if (!is(node, 'bpmn:Process')) {
      return;
    }
    for (const n of unreachableNodes(node)) {
      reporter.report(n.id, t.unreachable);
    }
  });
}

/** Rule name -> factory, as the static resolver serves them for package bpmnlint-plugin-carepath. */
export const CAREPATH_RULES = {
  'owner-role': ownerRole,
  'time-expression': timeExpression,
  'form-key': formKey,
  'gateway-default': gatewayDefault,
  reachable,
};
