// The CarePath group of the properties panel, for user tasks: owner role, org level, care stage
// and form, chosen from the lists the server gives (data-config). Every write is a modeling
// command (undoable) and serializes the way the Camunda Modeler writes these attributes:
// camunda:candidateGroups and camunda:formKey on the task, orgLevel and stage as
// <camunda:property> entries of one <camunda:properties> inside <bpmn:extensionElements>.

import { SelectEntry, isSelectEntryEdited } from '@bpmn-io/properties-panel';
import { jsx } from '@bpmn-io/properties-panel/preact/jsx-runtime';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

import { formEditorHref } from './urls.js';

const LABELS = {
  zh: {
    group: 'CarePath',
    ownerRole: '负责角色',
    orgLevel: '机构层级',
    stage: '服务阶段',
    form: '表单',
    none: '（未设置）',
    other: (value) => `其他：${value}`,
    editForm: '编辑表单',
    ownerHint: '写入候选组（camunda:candidateGroups）',
  },
  en: {
    group: 'CarePath',
    ownerRole: 'Owner role',
    orgLevel: 'Org level',
    stage: 'Care stage',
    form: 'Form',
    none: '(not set)',
    other: (value) => `other: ${value}`,
    editForm: 'Edit form',
    ownerHint: 'Written as candidate groups (camunda:candidateGroups)',
  },
};

/** The first camunda:Properties of the element's extension elements, or undefined. */
function propertiesOf(bo) {
  const ext = bo.get('extensionElements');
  return ext && (ext.get('values') || []).find((v) => is(v, 'camunda:Properties'));
}

/** The camunda:property named `name`, or undefined. */
export function findProperty(bo, name) {
  const props = propertiesOf(bo);
  return props && (props.get('values') || []).find((p) => p.get('name') === name);
}

function create(bpmnFactory, type, attrs, parent) {
  const element = bpmnFactory.create(type, attrs);
  element.$parent = parent;
  return element;
}

/**
 * Set (or, with an empty value, remove) the camunda:property `name` of `element` in one undoable
 * command, creating extensionElements and camunda:properties as the Camunda Modeler does.
 */
export function setCamundaProperty({ element, name, value, bpmnFactory, commandStack }) {
  const bo = getBusinessObject(element);
  const existing = findProperty(bo, name);
  const commands = [];
  if (!value) {
    if (!existing) {
      return;
    }
    const props = propertiesOf(bo);
    const values = props.get('values').filter((p) => p !== existing);
    commands.push({
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: props, properties: { values } },
    });
    if (!values.length) {
      const ext = bo.get('extensionElements');
      commands.push({
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: ext, properties: { values: ext.get('values').filter((v) => v !== props) } },
      });
    }
  } else if (existing) {
    commands.push({
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: existing, properties: { value } },
    });
  } else {
    let ext = bo.get('extensionElements');
    if (!ext) {
      ext = create(bpmnFactory, 'bpmn:ExtensionElements', { values: [] }, bo);
      commands.push({
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: bo, properties: { extensionElements: ext } },
      });
    }
    let props = propertiesOf(bo);
    if (!props) {
      props = create(bpmnFactory, 'camunda:Properties', { values: [] }, ext);
      commands.push({
        cmd: 'element.updateModdleProperties',
        context: { element, moddleElement: ext, properties: { values: [...ext.get('values'), props] } },
      });
    }
    const property = create(bpmnFactory, 'camunda:Property', { name, value }, props);
    commands.push({
      cmd: 'element.updateModdleProperties',
      context: { element, moddleElement: props, properties: { values: [...props.get('values'), property] } },
    });
  }
  commandStack.execute('properties-panel.multi-command-executor', commands);
}

/** Select options: "(not set)", the configured choices, and the current value if it is none of them. */
export function selectOptions(choices, current, t) {
  const options = [{ value: '', label: t.none }];
  for (const choice of choices) {
    options.push({ value: choice.code, label: choice.name && choice.name !== choice.code ? `${choice.name}（${choice.code}）` : choice.code });
  }
  if (current && !choices.some((c) => c.code === current)) {
    options.push({ value: current, label: t.other(current) });
  }
  return options;
}

function asChoices(list) {
  return (Array.isArray(list) ? list : []).map((item) => (typeof item === 'string'
    ? { code: item, name: '' } : { code: String(item.code), name: item.name || '' })).filter((c) => c.code);
}

function attributeEntry({ id, attr, label, choices, description }) {
  return function Entry(props) {
    const { element } = props;
    const commandStack = useService('commandStack');
    const bo = getBusinessObject(element);
    const getValue = () => bo.get(attr) || '';
    const setValue = (value) => commandStack.execute('element.updateModdleProperties', {
      element, moddleElement: bo, properties: { [attr]: value || undefined },
    });
    return SelectEntry({
      element, id, label: label.text, getValue, setValue,
      getOptions: () => selectOptions(choices, getValue(), label.t),
      description: description ? description(getValue()) : undefined,
    });
  };
}

function propertyEntry({ id, name, label, choices }) {
  return function Entry(props) {
    const { element } = props;
    const commandStack = useService('commandStack');
    const bpmnFactory = useService('bpmnFactory');
    const bo = getBusinessObject(element);
    const getValue = () => {
      const property = findProperty(bo, name);
      return (property && property.get('value')) || '';
    };
    const setValue = (value) => setCamundaProperty({ element, name, value, bpmnFactory, commandStack });
    return SelectEntry({
      element, id, label: label.text, getValue, setValue,
      getOptions: () => selectOptions(choices, getValue(), label.t),
    });
  };
}

/** The entries of the CarePath group for `config` (data-config of the island). */
export function carePathEntries(config, locale) {
  const t = LABELS[locale === 'en' ? 'en' : 'zh'];
  const label = (text) => ({ text, t });
  const formLink = (key) => {
    const href = key ? formEditorHref(config.formEditorUrl, key) : null;
    if (!href) {
      return undefined;
    }
    return jsx('a', { class: 'cp-form-edit-link', href, target: '_blank', rel: 'noopener', children: t.editForm });
  };
  const roleDescription = () => t.ownerHint;
  return [
    {
      id: 'carepathOwnerRole',
      component: attributeEntry({
        id: 'carepathOwnerRole', attr: 'camunda:candidateGroups', label: label(t.ownerRole),
        choices: asChoices(config.roles), description: roleDescription,
      }),
      isEdited: isSelectEntryEdited,
    },
    {
      id: 'carepathOrgLevel',
      component: propertyEntry({ id: 'carepathOrgLevel', name: 'orgLevel', label: label(t.orgLevel), choices: asChoices(config.levels) }),
      isEdited: isSelectEntryEdited,
    },
    {
      id: 'carepathStage',
      component: propertyEntry({ id: 'carepathStage', name: 'stage', label: label(t.stage), choices: asChoices(config.stages) }),
      isEdited: isSelectEntryEdited,
    },
    {
      id: 'carepathForm',
      component: attributeEntry({
        id: 'carepathForm', attr: 'camunda:formKey', label: label(t.form),
        choices: asChoices(config.forms).map((c) => ({ code: c.code, name: '' })), description: formLink,
      }),
      isEdited: isSelectEntryEdited,
    },
  ];
}

/**
 * A properties provider adding the CarePath group right after "General" for user tasks.
 * The island's config reaches it as the diagram-js config key `carepath`.
 */
export function CarePathPropertiesProvider(propertiesPanel, config) {
  const settings = config || {};
  // Built once: the entries' components must keep their identity between renders.
  const entries = carePathEntries(settings, settings.locale);
  const label = LABELS[settings.locale === 'en' ? 'en' : 'zh'].group;
  this.getGroups = (element) => (groups) => {
    if (!is(element, 'bpmn:UserTask')) {
      return groups;
    }
    const group = { id: 'carepath', label, entries };
    const general = groups.findIndex((g) => g.id === 'general');
    groups.splice(general >= 0 ? general + 1 : 0, 0, group);
    return groups;
  };
  propertiesPanel.registerProvider(400, this);
}

CarePathPropertiesProvider.$inject = ['propertiesPanel', 'config.carepath'];

export const CarePathPropertiesModule = {
  __init__: ['carePathPropertiesProvider'],
  carePathPropertiesProvider: ['type', CarePathPropertiesProvider],
};
