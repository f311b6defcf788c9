// Task form island: <div class="cp-form" data-schema data-data data-errors data-readonly
// data-locale> inside a <form> that also holds <input type="hidden" name="data">.
//
// form-js renders the fields. When the enclosing form is submitted (by any button) the current
// data goes into the hidden `data` input as JSON and the browser posts as usual: client-side
// validation never blocks the post, the server is authoritative and re-renders the page with
// data-errors, which are shown under their fields.

import { Form } from '@bpmn-io/form-js-viewer';

import '@bpmn-io/form-js-viewer/dist/assets/form-js.css';
import './form.css';

import { IslandError, afterNextFrame, localeOf, messagesFor, mountAll, readJSON } from './common.js';
import {
  errorPathKey, errorPathOf, mapServerErrors, overlayErrors, sameValue, valueAt,
} from './form-errors.js';
import { translateModule } from './form-translate.js';

/**
 * The data to post: what form-js itself submits, i.e. every rendered, enabled keyed field with
 * its current value, including values that came from data-data and were never touched (form-js
 * seeds its state with them at import). Fields hidden by a condition are left out, as form-js does.
 */
export function submissionData(form) {
  const { properties } = form._getState();
  if (!properties.readOnly && !properties.disabled) {
    return form.submit().data; // public API; it also shows form-js's own inline errors
  }
  return form._getSubmitData(); // submit() refuses a read-only form
}

/**
 * Show the server's errors under their fields and keep them there until the user changes the
 * field's value: form-js re-validates on its own (fields that start with a value, on blur, on submit)
 * and would otherwise replace a server-only error with its own verdict.
 */
function keepServerErrors(form, matched) {
  const { data } = form._getState();
  const pending = new Map(
    matched.map((entry) => [errorPathKey(entry.path), { ...entry, value: valueAt(data, entry.valuePath) }]),
  );
  const apply = () => {
    if (!pending.size) {
      return;
    }
    const errors = overlayErrors(form._getState().errors, [...pending.values()]);
    if (errors) {
      form._setState({ errors }); // emits 'changed' again, then nothing is missing
    }
  };
  form.on('field.updated', ({ fieldInstance, value }) => {
    // Number fields re-emit their value when they mount: only a real change counts.
    const key = fieldInstance && errorPathKey(errorPathOf(fieldInstance));
    if (key && pending.has(key) && !sameValue(value, pending.get(key).value)) {
      pending.delete(key);
    }
  });
  form.on('changed', apply);
  apply();
}

function hiddenDataInput(host) {
  // The host form's own controls only (form-js's inputs belong to its inner <form>).
  let input = Array.from(host.elements).find((e) => e.name === 'data' && e instanceof HTMLInputElement);
  if (!input) {
    input = document.createElement('input');
    input.type = 'hidden';
    input.name = 'data';
    host.appendChild(input);
  }
  return input;
}

function wireSubmit(el, form) {
  const host = el.closest('form');
  if (!host) {
    return;
  }
  const input = hiddenDataInput(host);
  host.addEventListener('submit', () => {
    // Never block the post: the server validates and answers with data-errors.
    try {
      input.value = JSON.stringify(submissionData(form));
    } catch (err) {
      console.error('CarePath form: could not read the form data', err);
      input.value = JSON.stringify(form._getState().data || {});
    }
  });
}

function showUnmatched(el, unmatched) {
  if (!unmatched.length) {
    return null;
  }
  const list = document.createElement('ul');
  list.className = 'cp-form-errors';
  list.setAttribute('role', 'alert');
  list.setAttribute('aria-label', messagesFor(el).formErrorsTitle);
  for (const { key, messages } of unmatched) {
    for (const message of messages) {
      const item = document.createElement('li');
      item.dataset.key = key;
      item.textContent = message;
      list.appendChild(item);
    }
  }
  el.prepend(list);
  return list;
}

async function mountForm(el) {
  const t = messagesFor(el);
  const schema = readJSON(el, 'schema');
  const data = readJSON(el, 'data', {});
  const serverErrors = readJSON(el, 'errors', {});
  const readOnly = el.dataset.readonly === 'true';

  const form = new Form({
    container: el,
    properties: { readOnly },
    // Apply every keystroke at once: a debounced edit still pending when the user submits
    // (Safari does not blur a field when a button is clicked) would be lost from the post.
    debounce: false,
    additionalModules: [translateModule(localeOf(el))],
  });
  try {
    await form.importSchema(schema, data && typeof data === 'object' ? data : {});
  } catch (err) {
    form.destroy();
    throw new IslandError(t.formImport(err.message || String(err)));
  }

  // Field instances are registered while form-js renders, which happens after import.
  await afterNextFrame();

  const instances = form.get('formFieldInstanceRegistry').getAllKeyed();
  const { matched, unmatched } = mapServerErrors(serverErrors, instances);
  keepServerErrors(form, matched);
  showUnmatched(el, unmatched);
  wireSubmit(el, form);
  return form;
}

mountAll('mountForms', '.cp-form', mountForm);
