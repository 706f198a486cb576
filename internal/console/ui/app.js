// The console's entry point: sign-in, sign-out and the screens behind
// location.hash (#users, #audit, ...), so the browser's back button and
// bookmarks work without any server-side routing.

import { adminKey, setAdminKey, forgetAdminKey, call, whenUnauthorized } from './api.js';
import { $, guard, showError, clearError, say } from './dom.js';
import * as overview from './overview.js';
import * as users from './users.js';
import * as importer from './import.js';
import * as audit from './audit.js';
import * as tokens from './tokens.js';

const screens = {
  overview: overview.show,
  users: users.show,
  import: () => {},
  audit: audit.show,
  inspect: () => {},
  mint: () => {},
};

function signedIn() {
  return adminKey() !== '';
}

function render() {
  const name = location.hash.slice(1);
  const current = signedIn() ? (name in screens ? name : 'overview') : 'signin';
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== 'screen-' + current;
  $('nav').hidden = !signedIn();
  $('sign-out').hidden = !signedIn();
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.dataset.screen === current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (current === 'signin') {
    $('signin-key').focus();
    return;
  }
  screens[current]();
}

function signOut(message) {
  forgetAdminKey();
  tokens.stop();
  say(message || 'Signed out.');
  history.replaceState(null, '', location.pathname);
  render();
}

$('signin-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('signin-key').value.trim();
  guard(async () => {
    // Check the key before keeping it: only an admin key can read the overview.
    await call('GET', '/v1/overview', undefined, key);
    setAdminKey(key);
    $('signin-key').value = '';
    say('Signed in.');
    if (!(location.hash.slice(1) in screens)) location.hash = '#overview';
    render();
  });
});

$('sign-out').addEventListener('click', () => {
  clearError();
  signOut();
});

whenUnauthorized((problem) => {
  signOut('Signed out: the service no longer accepts this key.');
  showError({ problem });
});

window.addEventListener('hashchange', () => {
  clearError();
  say('');
  render();
});

users.init();
importer.init();
audit.init();
tokens.init();
render();
