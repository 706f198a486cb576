// Users: keyset paging over GET /v1/users (the cursor of each page is kept so
// "Previous" can go back), prefix search, create, edit, password, disable and
// delete.

import { call, query, userPath } from './api.js';
import { $, el, clear, guard, say, formatTime } from './dom.js';

const pageSize = 50;

// The cursors that led to each page seen; cursors[0] is the first page ('').
let cursors = [''];
let next = '';
let prefix = '';
let selected = null; // the user shown in the detail panel

async function load() {
  const after = cursors[cursors.length - 1];
  const page = await call('GET', '/v1/users' + query({ prefix, after, limit: pageSize }));
  next = page.next || '';
  const body = $('users-table').tBodies[0];
  clear(body);
  for (const u of page.users) {
    const edit = el('button', { type: 'button', text: 'Edit', 'aria-label': 'Edit ' + u.userID });
    edit.addEventListener('click', () => guard(() => open(u.userID)));
    body.append(el('tr', {},
      el('td', { class: 'mono', text: u.userID }),
      el('td', { text: u.userName }),
      el('td', { text: u.disabled ? 'disabled' : 'active', class: u.disabled ? 'off' : '' }),
      el('td', { text: formatTime(u.createdAt) }),
      el('td', {}, edit)));
  }
  if (!page.users.length) {
    body.append(el('tr', {}, el('td', { colspan: 5, text: prefix ? 'No user\'s userID starts with that.' : 'No users yet.' })));
  }
  const total = typeof page.total === 'number' ? page.total : null;
  $('users-total').textContent = total === null ? '' : total + (total === 1 ? ' user' : ' users') + ' in the registry';
  $('users-page').textContent = 'Page ' + cursors.length;
  $('users-prev').disabled = cursors.length === 1;
  $('users-first').disabled = cursors.length === 1;
  $('users-next').disabled = next === '';
}

export function show() {
  guard(load);
}

function reload() {
  return guard(load);
}

async function open(userID) {
  // Hidden while it loads, so no button acts on the user shown before.
  $('user-detail').hidden = true;
  selected = null;
  const u = await call('GET', userPath(userID));
  fill(u);
  $('user-detail').hidden = false;
  $('edit-username').focus();
}

function fill(u) {
  selected = u;
  $('detail-id').textContent = u.userID;
  $('detail-state').textContent = (u.disabled ? 'Disabled' : 'Active') + ' · created ' + formatTime(u.createdAt) +
    ' · updated ' + formatTime(u.updatedAt);
  $('edit-username').value = u.userName;
  $('edit-avatar').value = u.avatarURL;
  $('edit-extended').value = u.extendedData;
  $('edit-password').value = '';
  $('detail-toggle').textContent = u.disabled ? 'Enable' : 'Disable';
}

async function patch(body, done) {
  const u = await call('PATCH', userPath(selected.userID), body);
  fill(u);
  say(done);
  await load();
}

export function init() {
  $('users-search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    prefix = $('users-prefix').value;
    cursors = [''];
    reload();
  });
  $('users-first').addEventListener('click', () => { cursors = ['']; reload(); });
  $('users-prev').addEventListener('click', () => { if (cursors.length > 1) cursors.pop(); reload(); });
  $('users-next').addEventListener('click', () => { if (next) cursors.push(next); reload(); });

  $('users-create').addEventListener('submit', (ev) => {
    ev.preventDefault();
    guard(async () => {
      const f = ev.target.elements;
      const body = {};
      // Left out, not empty: an empty userID is refused, a missing one assigned.
      for (const k of ['userID', 'userName', 'password', 'avatarURL', 'extendedData']) {
        if (f[k].value !== '') body[k] = f[k].value;
      }
      const u = await call('POST', '/v1/users', body);
      ev.target.reset();
      say('Created user ' + u.userID + '.');
      await load();
      fill(u);
      $('user-detail').hidden = false;
    });
  });

  $('detail-edit').addEventListener('submit', (ev) => {
    ev.preventDefault();
    guard(() => patch({
      userName: $('edit-username').value,
      avatarURL: $('edit-avatar').value,
      extendedData: $('edit-extended').value,
    }, 'Saved.'));
  });
  $('detail-password').addEventListener('submit', (ev) => {
    ev.preventDefault();
    guard(() => patch({ password: $('edit-password').value }, 'Password set; the user\'s sessions have ended.'));
  });
  $('detail-toggle').addEventListener('click', () => {
    const disable = !selected.disabled;
    guard(() => patch({ disabled: disable }, disable ? 'Disabled ' + selected.userID + '.' : 'Enabled ' + selected.userID + '.'));
  });
  $('detail-close').addEventListener('click', () => {
    $('user-detail').hidden = true;
    selected = null;
  });

  const dialog = $('delete-dialog');
  $('detail-delete').addEventListener('click', () => {
    $('delete-name').textContent = selected.userID;
    $('delete-confirm').textContent = 'Delete ' + selected.userID;
    dialog.returnValue = '';
    dialog.showModal();
    $('delete-cancel').focus();
  });
  dialog.addEventListener('close', () => {
    if (dialog.returnValue !== 'delete' || !selected) return;
    const id = selected.userID;
    guard(async () => {
      await call('DELETE', userPath(id));
      $('user-detail').hidden = true;
      selected = null;
      say('Deleted user ' + id + '.');
      await load();
    });
  });
}
