// The lint configuration of the modeler: bpmnlint's `recommended` rules, tuned for CarePath's
// library, plus the `carepath` plugin, packed as bpmn-js-bpmnlint wants it ({config, resolver})
// with a static resolver, so nothing is looked up at run time.
//
// Rule configuration (roles, forms, locale) travels the bpmnlint way: a rule's value is
// ['error', {...}] and bpmnlint's Linter calls the rule factory with that object.

import recommended from 'bpmnlint/config/recommended.js';
import adHocSubProcess from 'bpmnlint/rules/ad-hoc-sub-process.js';
import conditionalFlows from 'bpmnlint/rules/conditional-flows.js';
import endEventRequired from 'bpmnlint/rules/end-event-required.js';
import eventBasedGateway from 'bpmnlint/rules/event-based-gateway.js';
import eventSubProcessTypedStartEvent from 'bpmnlint/rules/event-sub-process-typed-start-event.js';
import fakeJoin from 'bpmnlint/rules/fake-join.js';
import globalRule from 'bpmnlint/rules/global.js';
import labelRequired from 'bpmnlint/rules/label-required.js';
import linkEvent from 'bpmnlint/rules/link-event.js';
import noBpmndi from 'bpmnlint/rules/no-bpmndi.js';
import noComplexGateway from 'bpmnlint/rules/no-complex-gateway.js';
import noDisconnected from 'bpmnlint/rules/no-disconnected.js';
import noDuplicateSequenceFlows from 'bpmnlint/rules/no-duplicate-sequence-flows.js';
import noGatewayJoinFork from 'bpmnlint/rules/no-gateway-join-fork.js';
import noImplicitEnd from 'bpmnlint/rules/no-implicit-end.js';
import noImplicitSplit from 'bpmnlint/rules/no-implicit-split.js';
import noImplicitStart from 'bpmnlint/rules/no-implicit-start.js';
import noInclusiveGateway from 'bpmnlint/rules/no-inclusive-gateway.js';
import noOverlappingElements from 'bpmnlint/rules/no-overlapping-elements.js';
import singleBlankStartEvent from 'bpmnlint/rules/single-blank-start-event.js';
import singleEventDefinition from 'bpmnlint/rules/single-event-definition.js';
import startEventRequired from 'bpmnlint/rules/start-event-required.js';
import subProcessBlankStartEvent from 'bpmnlint/rules/sub-process-blank-start-event.js';
import superfluousGateway from 'bpmnlint/rules/superfluous-gateway.js';
import superfluousLabel from 'bpmnlint/rules/superfluous-label.js';
import superfluousTermination from 'bpmnlint/rules/superfluous-termination.js';

import { CAREPATH_RULES } from './carepath-rules.js';

/** bpmnlint's own rules that `recommended` names, by rule name. */
const BPMNLINT_RULES = {
  'ad-hoc-sub-process': adHocSubProcess,
  'conditional-flows': conditionalFlows,
  'end-event-required': endEventRequired,
  'event-based-gateway': eventBasedGateway,
  'event-sub-process-typed-start-event': eventSubProcessTypedStartEvent,
  'fake-join': fakeJoin,
  global: globalRule,
  'label-required': labelRequired,
  'link-event': linkEvent,
  'no-bpmndi': noBpmndi,
  'no-complex-gateway': noComplexGateway,
  'no-disconnected': noDisconnected,
  'no-duplicate-sequence-flows': noDuplicateSequenceFlows,
  'no-gateway-join-fork': noGatewayJoinFork,
  'no-implicit-end': noImplicitEnd,
  'no-implicit-split': noImplicitSplit,
  'no-implicit-start': noImplicitStart,
  'no-inclusive-gateway': noInclusiveGateway,
  'no-overlapping-elements': noOverlappingElements,
  'single-blank-start-event': singleBlankStartEvent,
  'single-event-definition': singleEventDefinition,
  'start-event-required': startEventRequired,
  'sub-process-blank-start-event': subProcessBlankStartEvent,
  'superfluous-gateway': superfluousGateway,
  'superfluous-label': superfluousLabel,
  'superfluous-termination': superfluousTermination,
};

export const PLUGIN = 'bpmnlint-plugin-carepath';

/**
 * CarePath's changes to `recommended`, each for a pattern the library uses on purpose.
 */
export const RECOMMENDED_OVERRIDES = {
  // The library's review and follow-up loops flow back into the wait (or task) that starts the
  // next round, e.g. school_screening's treatment_wait. A task or event with two incoming flows is
  // an exclusive merge in BPMN (each token passes on its own), which is what these loops mean.
  'fake-join': 'off',
  // An exclusive gateway that merges the ways back into a cycle and decides at once
  // (community_rehab's gw_year_complete) is correct BPMN; it is harder to read, so only a warning.
  'no-gateway-join-fork': 'warn',
};

/** The carepath rules and their levels; every one is an error the engine would refuse or trip on. */
export const CAREPATH_LEVELS = {
  'owner-role': 'error',
  'time-expression': 'error',
  'form-key': 'error',
  'gateway-default': 'error',
  reachable: 'error',
};

/** The rule names and levels in force: recommended, overridden, plus carepath/*. */
export function ruleLevels() {
  const levels = { ...recommended.rules, ...RECOMMENDED_OVERRIDES };
  for (const [name, level] of Object.entries(CAREPATH_LEVELS)) {
    levels[`carepath/${name}`] = level;
  }
  return levels;
}

// Chinese for the messages of bpmnlint's recommended rules (the carepath rules speak the
// configured locale themselves). Unknown messages stay in English.
const KIND_ZH = { Process: '流程', 'Sub process': '子流程' };
const ZH_MESSAGES = [
  [/^Element is missing bpmndi$/, () => '元素缺少图形信息（BPMNDI）'],
  [/^Element is outside of parent boundary$/, () => '元素超出了上级元素的边界'],
  [/^Element overlaps with other element$/, () => '元素与其他元素重叠'],
  [/^Duplicate link catch event with link name <(.*)> in scope$/, (m) => `同一范围内有多个链接名为“${m[1]}”的链接捕获事件`],
  [/^Link (catch|throw) event with link name <(.*)> missing in scope$/,
    (m) => `同一范围内缺少链接名为“${m[2]}”的链接${m[1] === 'catch' ? '捕获' : '抛出'}事件`],
  [/^A <Sequence Flow> outgoing from an <Event-based Gateway> must not be conditional$/, () => '事件网关的出口顺序流不能带条件'],
  [/^Sequence flow is missing condition$/, () => '顺序流缺少条件'],
  [/^A <Start Event> is not allowed in <Ad Hoc Sub Process>$/, () => '临时子流程中不允许有开始事件'],
  [/^An <End Event> is not allowed in <Ad Hoc Sub Process>$/, () => '临时子流程中不允许有结束事件'],
  [/^Start event is missing event definition$/, () => '开始事件缺少事件定义'],
  [/^Start event must be blank$/, () => '开始事件必须是空白开始事件'],
  [/^Link event is missing link name$/, () => '链接事件缺少链接名'],
  [/^An <Event-based Gateway> must have at least 2 outgoing <Sequence Flows>$/, () => '事件网关至少要有 2 条出口顺序流'],
  [/^Conditional event is missing a condition$/, () => '条件事件缺少条件'],
  [/^Element is an implicit end$/, () => '元素没有出口流（隐式结束），请连到结束事件'],
  [/^Element is an implicit start$/, () => '元素没有入口流（隐式开始），从开始事件无法到达'],
  [/^Element is missing label\/name$/, () => '元素缺少名称'],
  [/^Element is not connected$/, () => '元素没有连接任何顺序流'],
  [/^Element type <(.*)> is discouraged$/, (m) => `不建议使用 ${m[1]} 类型的元素`],
  [/^Event has multiple event definitions$/, () => '事件有多个事件定义'],
  [/^Flow splits implicitly$/, () => '流程隐式分支：有多条出口流时请使用网关'],
  [/^Gateway forks and joins$/, () => '网关既汇合又分支'],
  [/^Gateway is superfluous\. It only has one source and target\.$/, () => '网关多余：只有一个入口和一个出口'],
  [/^Incoming flows do not join$/, () => '多条入口流没有经过汇合网关'],
  [/^Sequence flow has superfluous label$/, () => '顺序流的名称多余'],
  [/^SequenceFlow is a duplicate$/, () => '重复的顺序流'],
  [/^Duplicate outgoing sequence flows$/, () => '有重复的出口顺序流'],
  [/^Duplicate incoming sequence flows$/, () => '有重复的入口顺序流'],
  [/^Termination is superfluous\.$/, () => '终止结束事件多余'],
  [/^(Process|Sub process) has multiple blank start events$/, (m) => `${KIND_ZH[m[1]]}有多个空白开始事件`],
  [/^(Process|Sub process) is missing end event$/, (m) => `${KIND_ZH[m[1]]}缺少结束事件`],
  [/^(Process|Sub process) is missing start event$/, (m) => `${KIND_ZH[m[1]]}缺少开始事件`],
  [/^Element is missing name$/, () => '元素缺少名称'],
  [/^Element is unused$/, () => '元素未被使用'],
  [/^Element name is not unique$/, () => '元素名称不唯一'],
];

/** A bpmnlint message in the locale ('zh' translates the recommended rules' messages). */
export function localizeMessage(message, locale) {
  if (locale === 'en' || typeof message !== 'string') {
    return message;
  }
  for (const [pattern, render] of ZH_MESSAGES) {
    const match = pattern.exec(message);
    if (match) {
      return render(match);
    }
  }
  return message;
}

/**
 * A rule definition whose reports are in the locale, and without bpmnlint's documentation link
 * (the pages must not send analysts to other sites).
 */
function localizedRule(definition, locale) {
  const check = definition.check;
  const wrapReporter = (reporter) => ({
    report: (id, message, path) => reporter.report(id, localizeMessage(message, locale), path),
  });
  let wrapped;
  if (typeof check === 'function') {
    wrapped = (node, reporter) => check(node, wrapReporter(reporter));
  } else {
    wrapped = {};
    if (check.enter) {
      wrapped.enter = (node, reporter) => check.enter(node, wrapReporter(reporter));
    }
    if (check.leave) {
      wrapped.leave = (node, reporter) => check.leave(node, wrapReporter(reporter));
    }
  }
  const meta = { ...(definition.meta || {}), documentation: {} };
  return { ...definition, meta, check: wrapped };
}

function normalizeLocale(locale) {
  return typeof locale === 'string' && locale.toLowerCase().startsWith('en') ? 'en' : 'zh';
}

/**
 * The packed lint configuration for bpmn-js-bpmnlint (`linting.bpmnlint`) and bpmnlint's Linter:
 * {config, resolver}. `roles` ([code] or [{code, name}]) and `forms` ([key]) feed the carepath
 * rules; leave one out to skip that existence check.
 */
export function buildLintConfig({ roles, forms, locale } = {}) {
  const lang = normalizeLocale(locale);
  const ruleConfig = { roles, forms, locale: lang };
  const rules = { ...RECOMMENDED_OVERRIDES };
  for (const [name, level] of Object.entries(CAREPATH_LEVELS)) {
    rules[`carepath/${name}`] = [level, ruleConfig];
  }
  const resolver = {
    resolveRule(pkg, ruleName) {
      const factory = pkg === 'bpmnlint' ? BPMNLINT_RULES[ruleName]
        : pkg === PLUGIN ? CAREPATH_RULES[ruleName] : undefined;
      if (!factory) {
        return null; // bpmnlint reports an unknown rule
      }
      return (config) => localizedRule(factory(config), lang);
    },
    resolveConfig(pkg, configName) {
      if (pkg === 'bpmnlint' && configName === 'recommended') {
        return recommended;
      }
      return null;
    },
  };
  return { config: { extends: 'bpmnlint:recommended', rules }, resolver };
}
