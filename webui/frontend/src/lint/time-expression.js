// What CarePath accepts where a pathway takes a time (camunda:dueDate, camunda:followUpDate,
// timer timeDate / timeDuration / timeCycle), checked in the browser while the analyst edits.
// It mirrors engine/bpmn/moments.py: an unquoted ISO 8601 literal, a `${...}` expression, or a
// plain (sandboxed Python) expression such as `workdays(5)`. The engine's own validation stays
// authoritative; this only catches what is clearly wrong before a round trip.
//
// Pure functions, no DOM: tested with node's test runner.

// The engine's patterns (engine/bpmn/moments.py), case-insensitive like there.
const DURATION = new RegExp(
  '^P(?!$)(\\d+(?:[.,]\\d+)?Y)?(\\d+(?:[.,]\\d+)?M)?(\\d+(?:[.,]\\d+)?W)?(\\d+(?:[.,]\\d+)?D)?'
    + '(T(?=\\d)(\\d+(?:[.,]\\d+)?H)?(\\d+(?:[.,]\\d+)?M)?(\\d+(?:[.,]\\d+)?S)?)?$',
  'i',
);
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):?(\d{2}))?)?$/i;
const CYCLE = /^R\d*\//i;

// Text that is meant as an ISO literal (so a typo must be reported, not read as a variable name):
// an upper-case P followed by a digit or T, R[n]/..., or a year-month start.
const ISO_LIKE = /^(P\d|PT\d|PT$|R\d*\/|\d{4}-\d)/;

/** An ISO 8601 duration (P3D, PT2H, P1M, P2W, PT0.5H). Years and months must be whole. */
export function isDuration(text) {
  const match = DURATION.exec(text);
  if (!match) {
    return false;
  }
  const whole = (part) => !part || !/[.,]/.test(part);
  return whole(match[1]) && whole(match[2]);
}

/** An ISO 8601 date or date-time that exists on the calendar (2026-02-30 does not). */
export function isInstant(text) {
  const match = DATETIME.exec(text);
  if (!match) {
    return false;
  }
  const [, y, mo, d, h, mi, s, oh, om] = match.map((v) => (v === undefined ? undefined : Number(v)));
  if (mo < 1 || mo > 12 || d < 1) {
    return false;
  }
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d > daysInMonth) {
    return false;
  }
  if (h !== undefined && (h > 23 || mi > 59 || (s !== undefined && s > 59))) {
    return false;
  }
  if (oh !== undefined && (oh > 23 || om > 59)) {
    return false;
  }
  return true;
}

/** R[n]/duration, R[n]/start/duration or R[n]/duration/end. */
export function isCycle(text) {
  if (!CYCLE.test(text)) {
    return false;
  }
  const parts = text.split('/');
  if (parts.length === 2) {
    return isDuration(parts[1]);
  }
  if (parts.length === 3) {
    return (isDuration(parts[1]) && isInstant(parts[2])) || (isInstant(parts[1]) && isDuration(parts[2]));
  }
  return false;
}

const OPEN = { '(': ')', '[': ']', '{': '}' };
const CLOSE = new Set(Object.values(OPEN));

/**
 * Whether `text` reads as one Python expression as far as tokens and brackets go: names
 * (Unicode letters allowed), numbers, quoted strings, operators and balanced brackets.
 * Returns null when it does, else a short reason code.
 */
export function pythonLikeProblem(text) {
  const stack = [];
  let i = 0;
  let sawToken = false;
  while (i < text.length) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      i += 1;
      continue;
    }
    const rest = text.slice(i);
    let m;
    if ((m = /^[\p{L}_][\p{L}\p{N}_]*/u.exec(rest))) {
      i += m[0].length;
    } else if ((m = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[jJ]?/.exec(rest))) {
      i += m[0].length;
      if (/^[\p{L}_\d]/u.test(text.slice(i))) {
        return 'token'; // 3D, 12abc: not a Python number
      }
    } else if (ch === '"' || ch === "'") {
      const end = closingQuote(text, i);
      if (end < 0) {
        return 'quote';
      }
      i = end + 1;
    } else if (OPEN[ch]) {
      stack.push(OPEN[ch]);
      i += 1;
    } else if (CLOSE.has(ch)) {
      if (stack.pop() !== ch) {
        return 'brackets';
      }
      i += 1;
    } else if ((m = /^(\*\*|\/\/|==|!=|<=|>=|[-+*/%<>,.:=~&|^@])/.exec(rest))) {
      i += m[0].length;
    } else {
      return 'token'; // $, #, ?, ; ... do not occur in an expression
    }
    sawToken = true;
  }
  if (stack.length) {
    return 'brackets';
  }
  return sawToken ? null : 'empty';
}

function closingQuote(text, start) {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i += 1) {
    if (text[i] === '\\') {
      i += 1;
    } else if (text[i] === quote) {
      return i;
    }
  }
  return -1;
}

/** The inner text of `${...}` when the whole value is one such expression, else null. */
export function unwrapExpression(text) {
  const match = /^\s*\$\{([\s\S]*)\}\s*$/.exec(text || '');
  return match ? match[1] : null;
}

/**
 * Check one time value. `kind` is 'moment' (due date, follow-up date, timeDate, timeDuration) or
 * 'cycle' (timeCycle). Returns null when the value is acceptable, else a reason:
 * 'empty' | 'iso' (ISO-like text that does not parse) | 'not-cycle' (an ISO literal where a
 * cycle R[n]/... is needed, or a cycle where a single moment is needed) | 'braces' (an unbalanced
 * `${...}`) | 'expression' (neither a literal nor a readable expression).
 */
export function timeExpressionProblem(value, kind = 'moment') {
  const text = (value || '').trim();
  if (!text) {
    return 'empty';
  }
  if (text.startsWith('${') || text.includes('${')) {
    const inner = unwrapExpression(text);
    if (inner === null || !balancedBraces(text.slice(2, -1))) {
      return 'braces';
    }
    return pythonLikeProblem(inner) ? 'expression' : null;
  }
  const cycle = isCycle(text);
  const moment = isDuration(text) || isInstant(text);
  if (cycle || moment) {
    if (kind === 'cycle' && !cycle) {
      return 'not-cycle';
    }
    if (kind !== 'cycle' && cycle) {
      return 'not-cycle';
    }
    return null;
  }
  if (ISO_LIKE.test(text) || CYCLE.test(text) || DATETIME.test(text)) {
    return 'iso';
  }
  return pythonLikeProblem(text) ? 'expression' : null;
}

function balancedBraces(text) {
  let depth = 0;
  for (const ch of text) {
    if (ch === '{') {
      depth += 1;
    } else if (ch === '}') {
      depth -= 1;
      if (depth < 0) {
        return false;
      }
    }
  }
  return depth === 0;
}
