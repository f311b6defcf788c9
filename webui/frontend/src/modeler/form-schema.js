// What the form editor island stores and exports (pure, tested with node).

/** The exporter written into saved forms that do not name one already. */
export const CAREPATH_EXPORTER = { name: 'CarePath', version: '0.1.0' };

// The editor hands keys back in its own order, which would turn every save into a diff of moved
// lines. Keys are put back in the order of the form as it was opened; new objects get the order
// the library files use.
const SCHEMA_KEYS = ['type', 'id', 'schemaVersion', 'exporter', 'components'];
const COMPONENT_KEYS = ['type', 'text', 'key', 'label', 'id'];

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function orderArray(values, template) {
  const byId = new Map();
  if (Array.isArray(template)) {
    template.filter((t) => isObject(t) && t.id !== undefined).forEach((t) => byId.set(t.id, t));
  }
  return values.map((value, index) => {
    if (!isObject(value)) {
      return value;
    }
    const match = value.id !== undefined ? byId.get(value.id) : (Array.isArray(template) ? template[index] : undefined);
    return orderLike(value, isObject(match) ? match : null, COMPONENT_KEYS);
  });
}

/** `value` with its keys (recursively) in the order of `template`, else `fallback` first. */
function orderLike(value, template, fallback = []) {
  const first = [...(template ? Object.keys(template) : []), ...fallback];
  const out = {};
  for (const key of [...first, ...Object.keys(value)]) {
    if (!(key in value) || key in out) {
      continue;
    }
    const child = value[key];
    const childTemplate = template ? template[key] : undefined;
    if (Array.isArray(child)) {
      out[key] = orderArray(child, childTemplate);
    } else if (isObject(child)) {
      out[key] = orderLike(child, isObject(childTemplate) ? childTemplate : null);
    } else {
      out[key] = child;
    }
  }
  return out;
}

/** The schema with its keys in the order of `original` (the form as opened), values untouched. */
export function inFileOrder(schema, original) {
  return orderLike(schema, isObject(original) ? original : null, SCHEMA_KEYS);
}

/** The schema to store: the editor's, with the original exporter kept (or CarePath's). */
export function schemaToSave(saved, original) {
  const exporter = isObject(original) && isObject(original.exporter) ? original.exporter : CAREPATH_EXPORTER;
  return inFileOrder({ ...saved, exporter }, original);
}

/** A form file's text: 2-space JSON with a trailing newline, like the files in forms/. */
export function formFileText(schema) {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
