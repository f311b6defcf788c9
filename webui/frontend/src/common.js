// Shared plumbing of the CarePath islands: mounting, locale, ready/error state.
//
// Every island follows one contract: on DOMContentLoaded it finds its elements, mounts itself
// and sets data-ready="true" once rendered, or data-error="<message>" with the message shown
// inside (or, for a <canvas>, right after) the element.

import './common.css';

const MESSAGES = {
  zh: {
    badJSON: (attr) => `属性 ${attr} 不是有效的 JSON`,
    missing: (attr) => `缺少属性 ${attr}`,
    unexpected: '页面组件加载失败',
    diagramFetch: (status) => `流程图加载失败（HTTP ${status}）`,
    diagramNetwork: '流程图加载失败：无法连接服务器',
    diagramImport: (detail) => `流程图无法显示：${detail}`,
    formImport: (detail) => `表单无法显示：${detail}`,
    formErrorsTitle: '提交未通过，请修改以下内容：',
    chartType: (type) => `不支持的图表类型 ${type}`,
  },
  en: {
    badJSON: (attr) => `attribute ${attr} is not valid JSON`,
    missing: (attr) => `attribute ${attr} is missing`,
    unexpected: 'this part of the page failed to load',
    diagramFetch: (status) => `could not load the diagram (HTTP ${status})`,
    diagramNetwork: 'could not load the diagram: the server cannot be reached',
    diagramImport: (detail) => `the diagram cannot be shown: ${detail}`,
    formImport: (detail) => `the form cannot be shown: ${detail}`,
    formErrorsTitle: 'The submission was refused; please correct the following:',
    chartType: (type) => `unsupported chart type ${type}`,
  },
};

/** 'en' or 'zh' (the default): the element's data-locale, else the nearest ancestor's, else <html lang>. */
export function localeOf(el) {
  const holder = el.closest('[data-locale]');
  const raw = (holder ? holder.dataset.locale : document.documentElement.lang) || 'zh';
  return raw.toLowerCase().startsWith('en') ? 'en' : 'zh';
}

/** The fallback messages of the island's locale. */
export function messagesFor(el) {
  return MESSAGES[localeOf(el)];
}

/** An error whose message is meant for the user as it stands. */
export class IslandError extends Error {}

/** Parse the JSON in data-NAME; `fallback` when the attribute is absent or empty. */
export function readJSON(el, name, fallback) {
  const attr = `data-${name}`;
  const raw = el.getAttribute(attr);
  if (raw === null || raw.trim() === '') {
    if (fallback === undefined) {
      throw new IslandError(messagesFor(el).missing(attr));
    }
    return fallback;
  }
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new IslandError(messagesFor(el).badJSON(attr));
  }
}

/** Registry of mounted islands: element -> viewer / form / chart instance (for other scripts and tests). */
function registry() {
  const ns = (window.CarePath = window.CarePath || {});
  ns.islands = ns.islands || new WeakMap();
  return ns;
}

/** Show `message` for a failed island: data-error plus a visible text. */
export function showError(el, message) {
  el.dataset.error = message;
  el.removeAttribute('data-ready');
  const box = document.createElement('p');
  box.className = 'cp-island-error';
  box.setAttribute('role', 'alert');
  box.textContent = message;
  if (el instanceof HTMLCanvasElement) {
    // Canvas content is never displayed: put the message right after it instead.
    el.style.display = 'none';
    el.insertAdjacentElement('afterend', box);
  } else {
    el.replaceChildren(box);
  }
}

function run(el, mount) {
  if (el.dataset.cpMounted) {
    return Promise.resolve();
  }
  el.dataset.cpMounted = 'true';
  return Promise.resolve()
    .then(() => mount(el))
    .then((instance) => {
      registry().islands.set(el, instance);
      el.dataset.ready = 'true';
    })
    .catch((err) => {
      if (!(err instanceof IslandError)) {
        console.error('CarePath island failed', el, err);
      }
      const text = err instanceof IslandError ? err.message : messagesFor(el).unexpected;
      showError(el, text);
    });
}

/**
 * Mount `mount(el)` on every element matching `selector` once the DOM is parsed. `mount` returns
 * (or resolves to) the island's instance. Also exposed as window.CarePath[name](root) to mount
 * islands in content added later.
 */
export function mountAll(name, selector, mount) {
  const mountIn = (root = document) =>
    Promise.all(Array.from(root.querySelectorAll(selector), (el) => run(el, mount)));
  registry()[name] = mountIn;
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => mountIn());
  } else {
    mountIn();
  }
}

/** Resolve after the next frame (or 100 ms without one): form-js and the properties panel have
 * rendered by then. */
export function afterNextFrame() {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        setTimeout(resolve);
      }
    };
    setTimeout(finish, 100);
    if (typeof requestAnimationFrame === 'function') {
      requestAnimationFrame(finish);
    }
  });
}
