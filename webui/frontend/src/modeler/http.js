// Same-origin requests of the editor islands: the CSRF token from <meta name="csrf-token">,
// JSON answers read whatever the status.

import { IslandError } from '../common.js';

/** The page's CSRF token ('' when the page has none). */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return (meta && meta.getAttribute('content')) || '';
}

/** A network failure (no HTTP answer at all). */
export class NetworkError extends Error {}

/**
 * Send a request and read the answer: {status, ok, data} where data is the parsed JSON body or
 * null. Throws NetworkError when no answer arrives.
 */
export async function request(url, { method = 'GET', body, headers = {}, accept = 'application/json' } = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      body,
      credentials: 'same-origin',
      headers: { Accept: accept, ...(method === 'GET' ? {} : { 'X-CSRFToken': csrfToken() }), ...headers },
    });
  } catch (err) {
    throw new NetworkError(err && err.message ? err.message : String(err));
  }
  const text = await response.text();
  let data = null;
  if (accept === 'application/json') {
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      data = null;
    }
  } else {
    data = text;
  }
  return { status: response.status, ok: response.ok, data };
}

/** The `error` message of a JSON answer, else a fallback built from the status. */
export function errorText(answer, t) {
  const error = answer && answer.data && typeof answer.data === 'object' ? answer.data.error : null;
  return typeof error === 'string' && error ? error : t.httpError(answer ? answer.status : 0);
}

/** Offer `text` as a download named `name`. */
export function download(name, text, type) {
  const blob = new Blob([text], { type });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The text of a file chosen in an <input type="file">. */
export function readFile(file) {
  if (typeof file.text === 'function') {
    return file.text();
  }
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}

/**
 * What an editor island opens: GET `el`'s data-source-url. Throws IslandError with `t`'s message
 * when the attribute is missing (`missing`), no answer arrives, or the answer is an error
 * (`failed(status)`).
 */
export async function fetchSource(el, t, { missing, failed, accept = 'application/json' }) {
  const url = el.dataset.sourceUrl;
  if (!url) {
    throw new IslandError(missing('data-source-url'));
  }
  let answer;
  try {
    answer = await request(url, { accept });
  } catch (err) {
    throw new IslandError(t.network);
  }
  if (!answer.ok) {
    throw new IslandError(failed(answer.status));
  }
  return answer.data;
}
