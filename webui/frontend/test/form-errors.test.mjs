// node --test test/ : the server-error mapping of the form island.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  mapServerErrors, messagesOf, overlayErrors, parsePath, sameValue, valueAt,
} from '../src/form-errors.js';

// Field instances as form-js lists them (formFieldInstanceRegistry.getAllKeyed()) for a form
// with a top-level field, a group with path "contact" and a dynamic list with path "visits".
const INSTANCES = [
  { id: 'F_score', valuePath: ['phq9_score'], indexes: {} },
  { id: 'F_phone', valuePath: ['contact', 'phone'], indexes: {} },
  { id: 'F_date', valuePath: ['visits', 0, 'date'], indexes: { L: 0 } },
  { id: 'F_date', valuePath: ['visits', 1, 'date'], indexes: { L: 1 } },
];

test('server paths parse with brackets or dots', () => {
  assert.deepEqual(parsePath('visits[1].date'), ['visits', '1', 'date']);
  assert.deepEqual(parsePath('visits.1.date'), ['visits', '1', 'date']);
  assert.deepEqual(parsePath('a.b'), ['a', 'b']);
});

test('errors land on the field instance named by the path', () => {
  const { matched, unmatched } = mapServerErrors(
    {
      phq9_score: '总分与各题得分不一致',
      'contact.phone': ['电话格式不对'],
      'visits[1].date': '第二次随访日期不对',
    },
    INSTANCES,
  );
  assert.deepEqual(unmatched, []);
  assert.deepEqual(
    matched.map(({ path, messages }) => [path, messages]),
    [
      [['F_score'], ['总分与各题得分不一致']],
      [['F_phone'], ['电话格式不对']],
      [['F_date', 1], ['第二次随访日期不对']],
    ],
  );
  assert.deepEqual(matched[2].valuePath, ['visits', 1, 'date']);
});

test('paths that name no rendered field are returned for the list above the form', () => {
  const { matched, unmatched } = mapServerErrors(
    { _form: '任务已被他人领取', phone: '未知字段 phone', 'visits[2].date': '越界', empty: [] },
    INSTANCES,
  );
  assert.deepEqual(matched, []);
  assert.deepEqual(unmatched, [
    { key: '_form', messages: ['任务已被他人领取'] },
    { key: 'phone', messages: ['未知字段 phone'] },
    { key: 'visits[2].date', messages: ['越界'] },
  ]);
});

test('overlay puts server messages first and keeps form-js messages that differ', () => {
  const matched = [
    { path: ['F_score'], messages: ['服务器'] },
    { path: ['F_date', 1], messages: ['列表'] },
  ];
  const current = { F_score: ['此项为必填项。'], F_other: ['x'] };
  const out = overlayErrors(current, matched);
  assert.deepEqual(out, { F_score: ['服务器', '此项为必填项。'], F_other: ['x'], F_date: { 1: ['列表'] } });
  assert.deepEqual(current, { F_score: ['此项为必填项。'], F_other: ['x'] }, 'input left unchanged');
  assert.equal(overlayErrors(out, matched), null, 'nothing missing: nothing to set');
});

test('overlay keeps form-js list layout (arrays by index)', () => {
  const out = overlayErrors({ F_date: [undefined, ['必填']] }, [{ path: ['F_date', 1], messages: ['列表'] }]);
  assert.deepEqual(out.F_date[1], ['列表', '必填']);
});

test('value comparison ignores form-js re-emitting the same value', () => {
  assert.ok(sameValue(12, '12'));
  assert.ok(sameValue(null, ''));
  assert.ok(!sameValue(12, 13));
  assert.ok(!sameValue('', 'a'));
  assert.ok(sameValue(['a', 'b'], ['a', 'b']));
  assert.equal(valueAt({ visits: [{ date: 'a' }, { date: 'b' }] }, ['visits', 1, 'date']), 'b');
});

test('messages are strings or lists of strings', () => {
  assert.deepEqual(messagesOf('a'), ['a']);
  assert.deepEqual(messagesOf(['a', null, '']), ['a']);
});
