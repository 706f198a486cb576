// Import: a CSV or JSON Lines file is read in the browser, checked for shape
// (so one malformed line cannot make the service refuse a whole batch), and
// sent to POST /v1/users/import in batches of at most 1,000. Each row gets
// the service's verdict; the rows that failed can be downloaded as CSV.

import { call, ProblemError } from './api.js';
import { $, el, clear, guard, say } from './dom.js';
import { parseCSV, csvLine } from './csv.js';

export const batchSize = 1000; // the service's limit per call
const columns = ['userID', 'userName', 'password', 'avatarURL', 'extendedData'];
const shownRows = 2000; // more would make the page slow; the counts and report cover all

let results = []; // {row, userID, status, reason}
let reportURL = '';

// rowsFromCSV turns a CSV file into rows {line, user} or {line, error}.
export function rowsFromCSV(text) {
  const records = parseCSV(text);
  if (!records.length) throw new SyntaxError('the file is empty');
  const header = records[0].map((h) => h.trim());
  for (const h of header) {
    if (!columns.includes(h)) throw new SyntaxError('unknown column "' + h + '" in the header; expected ' + columns.join(','));
  }
  if (new Set(header).size !== header.length) throw new SyntaxError('a column appears twice in the header');
  if (!header.includes('userID')) throw new SyntaxError('the header has no userID column');
  return records.slice(1).map((rec) => {
    if (rec.length !== header.length) {
      return { line: rec.line, userID: rec[header.indexOf('userID')] ?? '', error: rec.length + ' fields, the header has ' + header.length };
    }
    const user = {};
    header.forEach((h, i) => {
      // An empty cell means "not given": no password, the default name.
      if (h === 'userID' || rec[i] !== '') user[h] = rec[i];
    });
    return { line: rec.line, userID: user.userID, user };
  });
}

// rowsFromJSONLines turns one JSON object a line into rows.
export function rowsFromJSONLines(text) {
  const rows = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let v;
    try {
      v = JSON.parse(line);
    } catch (err) {
      rows.push({ line: i + 1, userID: '', error: 'not JSON: ' + err.message });
      return;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      rows.push({ line: i + 1, userID: '', error: 'not a JSON object' });
      return;
    }
    const id = typeof v.userID === 'string' ? v.userID : '';
    for (const [k, val] of Object.entries(v)) {
      if (!columns.includes(k)) {
        rows.push({ line: i + 1, userID: id, error: 'unknown field "' + k + '"' });
        return;
      }
      if (typeof val !== 'string') {
        rows.push({ line: i + 1, userID: id, error: k + ' must be a string' });
        return;
      }
    }
    if (!('userID' in v)) v.userID = '';
    rows.push({ line: i + 1, userID: v.userID, user: v });
  });
  return rows;
}

function isCSV(name, text) {
  if (/\.csv$/i.test(name)) return true;
  if (/\.(jsonl|ndjson|json)$/i.test(name)) return false;
  return !text.trimStart().startsWith('{');
}

// send imports one batch, halving it if the body is too large for the service.
async function send(batch) {
  try {
    return (await call('POST', '/v1/users/import', { users: batch.map((r) => r.user) })).results;
  } catch (err) {
    if (err instanceof ProblemError && err.status === 413 && batch.length > 1) {
      const half = Math.ceil(batch.length / 2);
      return [...(await send(batch.slice(0, half))), ...(await send(batch.slice(half)))];
    }
    throw err;
  }
}

function render() {
  const body = $('import-results').tBodies[0];
  clear(body);
  const all = $('import-filter').value === 'all';
  const rows = all ? results : results.filter((r) => r.status !== 'created');
  for (const r of rows.slice(0, shownRows)) {
    body.append(el('tr', { class: 'st-' + r.status },
      el('td', { text: String(r.row) }),
      el('td', { class: 'mono', text: r.userID }),
      el('td', { text: r.status }),
      el('td', { text: r.reason || '' })));
  }
  $('import-more').textContent = rows.length > shownRows ? (rows.length - shownRows) + ' more rows are not shown.' : '';
}

function summarize(total, done) {
  const count = (s) => results.filter((r) => r.status === s).length;
  const parts = [done + ' of ' + total + ' rows done', count('created') + ' created', count('exists') + ' already existed',
    count('invalid') + ' invalid'];
  const unsent = count('not sent');
  if (unsent) parts.push(unsent + ' not sent');
  $('import-summary').textContent = parts.join(' · ');
}

function report() {
  if (reportURL) URL.revokeObjectURL(reportURL);
  reportURL = '';
  const failed = results.filter((r) => r.status === 'invalid' || r.status === 'not sent');
  const a = $('import-report');
  a.hidden = failed.length === 0;
  if (!failed.length) return;
  // Passwords stay out of the report: it is a file that lingers in Downloads.
  let csv = csvLine(['line', 'userID', 'userName', 'avatarURL', 'extendedData', 'status', 'reason']);
  for (const r of failed) {
    const u = r.user || {};
    csv += csvLine([r.row, r.userID, u.userName, u.avatarURL, u.extendedData, r.status, r.reason]);
  }
  reportURL = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
  a.href = reportURL;
  a.download = 'import-failed-rows.csv';
}

async function run(file) {
  const text = await file.text();
  const rows = isCSV(file.name, text) ? rowsFromCSV(text) : rowsFromJSONLines(text);
  // Rows keep file order; those refused here are invalid without a call.
  results = rows.map((r) => ({ row: r.line, userID: r.userID ?? '', user: r.user, status: r.user ? 'pending' : 'invalid',
    reason: r.error || '' }));
  const sendable = results.filter((r) => r.user);
  const progress = $('import-progress');
  progress.max = Math.max(results.length, 1);
  let done = results.length - sendable.length;
  progress.value = done;
  summarize(results.length, done);
  try {
    for (let i = 0; i < sendable.length; i += batchSize) {
      const batch = sendable.slice(i, i + batchSize);
      const res = await send(batch);
      batch.forEach((r, j) => {
        const v = res[j] || {};
        r.status = v.status || 'invalid';
        r.reason = v.error ? (v.error.field ? v.error.field + ': ' : '') + v.error.message : '';
      });
      done += batch.length;
      progress.value = done;
      summarize(results.length, done);
    }
  } finally {
    for (const r of results) {
      if (r.status === 'pending') Object.assign(r, { status: 'not sent', reason: 'the import stopped before this row was sent' });
    }
    if (!results.length) progress.value = 1;
    summarize(results.length, done);
    render();
    report();
  }
  say('Import finished.');
}

export function init() {
  $('import-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = $('import-file').files[0];
    if (!file) return;
    const button = $('import-start');
    button.disabled = true;
    $('import-summary').textContent = '';
    guard(() => run(file)).finally(() => { button.disabled = false; });
  });
  $('import-filter').addEventListener('change', render);
}
