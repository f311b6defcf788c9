// Chart island: <canvas class="cp-chart" data-chart='{"type", "labels", "datasets", "links", "options"}'>.
// Bar, line and doughnut charts; clicking a bar, point or segment opens links[index] (drill-down).

import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Colors,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';


import { IslandError, messagesFor, mountAll, readJSON } from './common.js';

Chart.register(
  BarController, BarElement,
  LineController, LineElement, PointElement,
  DoughnutController, ArcElement,
  CategoryScale, LinearScale,
  Tooltip, Legend, Colors,
);

const TYPES = new Set(['bar', 'line', 'doughnut']);

/** A same-origin URL to navigate to, or null (no javascript:, no other sites). */
export function safeLink(link) {
  if (typeof link !== 'string' || link === '') {
    return null;
  }
  try {
    const url = new URL(link, window.location.href);
    return url.origin === window.location.origin ? url.href : null;
  } catch (err) {
    return null;
  }
}

function describe(labels, datasets) {
  // A text alternative for screen readers: "label: value, ..." per dataset.
  return datasets
    .map((ds) => {
      const values = (ds.data || []).map((v, i) => `${labels[i] ?? i + 1}: ${v}`).join('，');
      return ds.label ? `${ds.label}（${values}）` : values;
    })
    .join('；');
}

function mountChart(canvas) {
  const t = messagesFor(canvas);
  const spec = readJSON(canvas, 'chart');
  if (!spec || !TYPES.has(spec.type)) {
    throw new IslandError(t.chartType(spec && spec.type));
  }
  const labels = Array.isArray(spec.labels) ? spec.labels : [];
  const datasets = Array.isArray(spec.datasets) ? spec.datasets : [];
  const links = Array.isArray(spec.links) ? spec.links : [];
  const linkAt = (elements) => (elements.length ? safeLink(links[elements[0].index]) : null);

  const font = window.getComputedStyle(canvas).fontFamily;
  if (font) {
    Chart.defaults.font.family = font; // the page's font, which has the Chinese glyphs
  }
  const options = {
    ...(spec.options && typeof spec.options === 'object' ? spec.options : {}),
    responsive: true,
    animation: false,
  };
  if (links.length) {
    options.onClick = (event, elements) => {
      const href = linkAt(elements);
      if (href) {
        window.location.assign(href);
      }
    };
    options.onHover = (event, elements) => {
      canvas.style.cursor = linkAt(elements) ? 'pointer' : 'default';
    };
  }
  if (!canvas.hasAttribute('aria-label')) {
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', describe(labels, datasets));
  }
  return new Chart(canvas, { type: spec.type, data: { labels, datasets }, options });
}

mountAll('mountCharts', 'canvas.cp-chart', mountChart);
