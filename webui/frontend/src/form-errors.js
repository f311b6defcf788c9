// Server validation errors -> form-js error state. Pure functions (no DOM, no form-js import),
// so they are tested on their own with node's test runner.
//
// The server names a field by its data path: "key", "group_path.key" for nested keys and
// "list[0].key" (or "list.0.key") inside dynamic lists. form-js keeps errors in its state keyed
// by field id, then by repetition index: errors[fieldId][index...] = [message, ...]. A rendered
// field instance knows its id, its value path (["list", 0, "key"]) and its indexes
// ({listId: 0}), so matching a server path against the rendered instances finds the field
// exactly as form-js lays out the data, and leaves out fields that are hidden.

/** "list[0].a.b" -> ["list", "0", "a", "b"]; the same for "list.0.a.b". */
export function parsePath(key) {
  return String(key)
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((segment) => segment !== '');
}

function pathKey(segments) {
  return segments.map(String).join('.');
}

/** A server error value (a string or a list of strings) as a list of messages. */
export function messagesOf(value) {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((m) => m !== null && m !== undefined && m !== '').map(String);
}

/**
 * Split `serverErrors` ({path: message | [messages]}) between form fields and the rest.
 *
 * `instances` are form-js field instances ({id, valuePath, indexes}), as listed by
 * formFieldInstanceRegistry.getAllKeyed(). Returns {matched, unmatched}: matched a list of
 * {path, valuePath, messages} where path is the form-js error path [fieldId, index...] and
 * valuePath the field's data path; unmatched a list
 * of {key, messages} for server paths that name no rendered field.
 */
export function mapServerErrors(serverErrors, instances) {
  const byPath = new Map();
  for (const instance of instances) {
    if (Array.isArray(instance.valuePath) && instance.valuePath.length) {
      byPath.set(pathKey(instance.valuePath), instance);
    }
  }
  const matched = new Map();
  const unmatched = [];
  const entries = serverErrors && typeof serverErrors === 'object' ? Object.entries(serverErrors) : [];
  for (const [key, value] of entries) {
    const messages = messagesOf(value);
    if (!messages.length) {
      continue;
    }
    const instance = byPath.get(pathKey(parsePath(key)));
    if (!instance) {
      unmatched.push({ key, messages });
      continue;
    }
    const path = errorPathOf(instance);
    const id = pathKey(path);
    const previous = matched.has(id) ? matched.get(id).messages : [];
    matched.set(id, { path, valuePath: instance.valuePath, messages: [...previous, ...messages] });
  }
  return { matched: [...matched.values()], unmatched };
}

/** Where form-js keeps the errors of a field instance: [fieldId, index...]. */
export function errorPathOf(instance) {
  return [instance.id, ...Object.values(instance.indexes || {})];
}

/** The same error path as a string, to compare paths. */
export function errorPathKey(path) {
  return pathKey(path);
}

/**
 * form-js `errors` with every message of `matched` present under its field: the server's
 * messages first, then form-js's own ones that differ. Returns null when nothing is missing
 * (so a caller re-applying on every state change stops there).
 */
export function overlayErrors(errors, matched) {
  let out = null;
  for (const { path, messages } of matched) {
    const current = messagesOf(getIn(out || errors, path) || []);
    if (messages.every((m) => current.includes(m))) {
      continue;
    }
    out = out || cloneTree(errors || {});
    setIn(out, path, [...messages, ...current.filter((m) => !messages.includes(m))]);
  }
  return out;
}

/** The value at `path` in `data` (form-js data, with list indexes as numbers). */
export function valueAt(data, path) {
  return getIn(data, path);
}

/** Whether a field's value changed: form-js re-emits unchanged values (12 and "12" alike). */
export function sameValue(a, b) {
  const blank = (v) => v === undefined || v === null || v === '';
  if (blank(a) || blank(b)) {
    return blank(a) && blank(b);
  }
  if (typeof a !== 'object' && typeof b !== 'object') {
    return String(a) === String(b);
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function cloneTree(value) {
  if (Array.isArray(value)) {
    return value.slice();
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cloneTree(v)]));
  }
  return value;
}

function getIn(obj, path) {
  let node = obj;
  for (const segment of path) {
    if (node === null || typeof node !== 'object' || !(segment in node)) {
      return undefined;
    }
    node = node[segment];
  }
  return node;
}

function setIn(obj, path, value) {
  let node = obj;
  path.slice(0, -1).forEach((segment) => {
    if (node[segment] === null || typeof node[segment] !== 'object') {
      node[segment] = {};
    }
    node = node[segment];
  });
  node[path[path.length - 1]] = value;
}
