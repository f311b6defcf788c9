// URL helpers of the modeler island (pure, tested with node).

/**
 * The form editor's address for a form key: `template` with `__KEY__` replaced by the key, each
 * path segment URL-encoded and the slashes kept ("school_screening/筛查.form" ->
 * "school_screening/%E7%AD%9B%E6%9F%A5.form"). Null without a template or a key.
 */
export function formEditorHref(template, key) {
  if (typeof template !== 'string' || !template.includes('__KEY__') || !key) {
    return null;
  }
  const encoded = String(key).split('/').map((segment) => encodeURIComponent(segment)).join('/');
  return template.replace('__KEY__', encoded);
}

/** The file name an export is downloaded as: the last path part of `name`, plus `ext` if missing. */
export function downloadName(name, ext) {
  const base = String(name || '').split('/').pop().trim() || 'diagram';
  return base.toLowerCase().endsWith(ext) ? base : `${base}${ext}`;
}
