// Small DOM helpers. Every value that came from the service or a file is
// set with textContent, never parsed as HTML.

export const $ = (id) => document.getElementById(id);

// el makes an element; children are nodes or strings (added as text).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c);
  return e;
}

export function clear(node) {
  node.replaceChildren();
}

// row makes a table row of text cells.
export function row(...cells) {
  return el('tr', {}, ...cells.map((c) => (c instanceof Node ? el('td', {}, c) : el('td', { text: c ?? '' }))));
}

// fact appends a <dt>/<dd> pair to a definition list.
export function fact(dl, name, value) {
  dl.append(el('dt', { text: name }), el('dd', { text: value ?? '' }));
}

const alertBox = () => $('alert');

// showError puts a failed call's problem detail, code and field problems in
// the role="alert" region so that screen readers announce it.
export function showError(err) {
  const box = alertBox();
  clear(box);
  const p = err && err.problem;
  if (p) {
    box.append(el('p', { text: p.detail || p.title || 'the request failed' }));
    if (Array.isArray(p.errors)) {
      const ul = el('ul');
      for (const fe of p.errors) ul.append(el('li', { text: (fe.field ? fe.field + ': ' : '') + fe.message }));
      box.append(ul);
    }
    const bits = [];
    if (p.code) bits.push('code ' + p.code);
    if (p.requestID) bits.push('request ' + p.requestID);
    if (bits.length) box.append(el('p', { class: 'small', text: bits.join(' · ') }));
  } else {
    box.append(el('p', { text: String((err && err.message) || err) }));
  }
  box.hidden = false;
}

export function clearError() {
  const box = alertBox();
  clear(box);
  box.hidden = true;
}

// say shows a short confirmation in the polite status region.
export function say(text) {
  $('status').textContent = text;
}

// guard runs an async action, clearing the old error first and showing the
// new one, if any.
export async function guard(fn) {
  clearError();
  try {
    return await fn();
  } catch (err) {
    showError(err);
    return undefined;
  }
}

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

export function formatUnix(sec) {
  if (sec === undefined || sec === null) return '';
  return new Date(sec * 1000).toLocaleString() + ' (' + sec + ')';
}

// duration says how long n seconds is in words a person reads at a glance.
export function duration(n) {
  n = Math.abs(Math.trunc(n));
  const d = Math.floor(n / 86400), h = Math.floor((n % 86400) / 3600), m = Math.floor((n % 3600) / 60), s = n % 60;
  const parts = [];
  if (d) parts.push(d + ' d');
  if (h) parts.push(h + ' h');
  if (m) parts.push(m + ' min');
  if (s || !parts.length) parts.push(s + ' s');
  return parts.join(' ');
}
