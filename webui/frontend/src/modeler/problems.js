// Problems of the diagram, from two sources, in one shape for the problems list and the canvas
// markers: {element, source: 'lint' | 'engine', severity: 'error' | 'warn', message, rule?, line?}.
// Pure functions (no DOM), tested with node.

const SEVERITY = { error: 'error', warn: 'warn', warning: 'warn', info: 'warn', 'rule-error': 'error' };

/**
 * bpmn-js-bpmnlint's `linting.completed` issues ({elementId: [report]}) as problems. A report on
 * an element that the canvas does not show (a process behind its pool) keeps its own id in
 * `actualElementId`, which is the one named here.
 */
export function lintProblems(issues) {
  const problems = [];
  for (const [id, reports] of Object.entries(issues || {})) {
    for (const report of reports || []) {
      problems.push({
        element: report.actualElementId || report.id || id,
        shownOn: id,
        source: 'lint',
        severity: SEVERITY[report.category] || 'error',
        message: String(report.message || ''),
        rule: report.rule || '',
      });
    }
  }
  return problems;
}

/** The server's problems ({element, line, message, severity?}) as problems. */
export function engineProblems(list) {
  return (Array.isArray(list) ? list : []).filter((p) => p && p.message).map((p) => ({
    element: typeof p.element === 'string' ? p.element : '',
    shownOn: typeof p.element === 'string' ? p.element : '',
    source: 'engine',
    severity: SEVERITY[p.severity] || 'error',
    message: String(p.message),
    line: Number.isInteger(p.line) ? p.line : null,
  }));
}

/** Errors first, then warnings; within each, engine problems before lint, in their own order. */
export function sortProblems(problems) {
  const rank = (p) => (p.severity === 'error' ? 0 : 2) + (p.source === 'engine' ? 0 : 1);
  return problems.map((p, i) => [p, i]).sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1]).map(([p]) => p);
}

export function errorCount(problems) {
  return problems.filter((p) => p.severity === 'error').length;
}

/** Marker class per element id: error wins over warn. */
export function markersByElement(problems) {
  const markers = new Map();
  for (const p of problems) {
    for (const id of new Set([p.element, p.shownOn].filter(Boolean))) {
      if (p.severity === 'error' || !markers.has(id)) {
        markers.set(id, p.severity === 'error' ? 'cp-problem-error' : 'cp-problem-warn');
      }
    }
  }
  return markers;
}
