// Audit: GET /v1/audit with filters, newest first, one page at a time.

import { call, query } from './api.js';
import { $, el, clear, guard, formatTime } from './dom.js';

const pageSize = 50;
let filters = {};
let cursors = [''];
let next = '';

// rfc3339 turns a datetime-local value (the admin's local time) into UTC.
function rfc3339(v) {
  if (!v) return '';
  const d = new Date(v);
  if (isNaN(d)) throw new Error('not a time: ' + v);
  return d.toISOString();
}

async function load() {
  const page = await call('GET', '/v1/audit' + query({ ...filters, limit: pageSize, after: cursors[cursors.length - 1] }));
  next = page.next || '';
  const body = $('audit-table').tBodies[0];
  clear(body);
  for (const e of page.events) {
    body.append(el('tr', {},
      el('td', { text: formatTime(e.time), title: e.time }),
      el('td', { text: e.event }),
      el('td', { class: 'mono', text: e.userID ?? '' }),
      el('td', { class: 'mono', text: e.actor }),
      el('td', { text: e.appID === undefined ? '' : String(e.appID) }),
      el('td', { text: e.clientIP ?? '' }),
      el('td', { text: e.reason ?? '' }),
      el('td', { text: String(e.count) })));
  }
  if (!page.events.length) body.append(el('tr', {}, el('td', { colspan: 8, text: 'No events match.' })));
  $('audit-page').textContent = 'Page ' + cursors.length;
  $('audit-first').disabled = cursors.length === 1;
  $('audit-next').disabled = next === '';
}

export function show() {
  guard(load);
}

export function init() {
  $('audit-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    guard(() => {
      filters = {
        userID: $('audit-userid').value,
        event: $('audit-event').value,
        since: rfc3339($('audit-since').value),
        until: rfc3339($('audit-until').value),
      };
      cursors = [''];
      return load();
    });
  });
  $('audit-first').addEventListener('click', () => { cursors = ['']; guard(load); });
  $('audit-next').addEventListener('click', () => { if (next) cursors.push(next); guard(load); });
}
