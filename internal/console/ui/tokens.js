// Token inspector (POST /v1/token/verify) and test tokens (POST /v1/token as
// admin). The inspector's countdown runs on the browser clock against the
// token's expiresAt.

import { call } from './api.js';
import { $, el, clear, fact, guard, say, formatUnix, duration } from './dom.js';

// Why a token is refused, in words; the codes come from the service.
const reasons = {
  malformed: 'it is not a well-formed Token04',
  unsupported_version: 'its version is not 04',
  bad_secret: 'no configured secret of the app opens it (wrong app, rotated secret, or altered)',
  app_mismatch: 'it is for another appID',
  user_mismatch: 'it is for another userID',
  expired: 'it has expired',
  issued_in_future: 'it was issued in the future (a clock is wrong)',
  ttl_too_short: 'it expires within 30 seconds, which ZIM refuses',
  ttl_too_long: 'it expires more than 24 days ahead, which ZIM refuses',
};

let timer = 0;

// stop ends the countdown, on sign-out or a new inspection.
export function stop() {
  clearInterval(timer);
  timer = 0;
}

function countdown(node, expiresAt) {
  const tick = () => {
    const left = expiresAt - Math.floor(Date.now() / 1000);
    node.textContent = left > 0 ? 'expires in ' + duration(left) : 'expired ' + duration(left) + ' ago';
    node.className = left > 0 ? 'ok' : 'bad';
  };
  tick();
  timer = setInterval(tick, 1000);
}

function optionalInt(v, name) {
  if (v.trim() === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new Error(name + ' must be a whole number');
  return Number(v.trim());
}

async function inspect() {
  stop();
  const body = { token: $('inspect-token').value.trim() };
  const userID = $('inspect-userid').value;
  if (userID !== '') body.userID = userID;
  const appID = optionalInt($('inspect-appid').value, 'appID');
  if (appID !== undefined) body.appID = appID;
  const v = await call('POST', '/v1/token/verify', body);

  const verdict = $('inspect-verdict');
  verdict.textContent = v.valid
    ? 'Valid: a ZIM or RTC SDK would accept this token now.'
    : 'Not valid: ' + (reasons[v.reason] || v.reason) + '.';
  verdict.className = 'verdict ' + (v.valid ? 'ok' : 'bad');
  verdict.dataset.valid = String(v.valid);
  verdict.dataset.reason = v.reason || '';

  const warning = $('inspect-warning');
  warning.hidden = v.authenticated !== false;
  warning.textContent = v.authenticated === false
    ? 'Not authenticated: ' + (v.warning || 'this CBC token has no integrity check; its claims may have been altered.')
    : '';

  const dl = $('inspect-claims');
  clear(dl);
  if (!v.valid) {
    if (v.zimErrorCode !== undefined) fact(dl, 'ZIM error code', String(v.zimErrorCode));
    if (v.rtcErrorCode !== undefined) fact(dl, 'RTC error code', String(v.rtcErrorCode));
  }
  if (v.variant) fact(dl, 'Variant', v.variant === 'gcm' ? 'gcm (AES-GCM, authenticated)' : 'cbc (AES-CBC, not authenticated)');
  if (v.appID !== undefined) fact(dl, 'appID', String(v.appID));
  if (v.userID !== undefined) fact(dl, 'userID', v.userID);
  if (v.issuedAt !== undefined) fact(dl, 'Issued', formatUnix(v.issuedAt));
  if (v.expiresAt !== undefined) {
    fact(dl, 'Expires', formatUnix(v.expiresAt));
    const dd = el('dd', { id: 'inspect-countdown' });
    dl.append(el('dt', { text: 'Time left' }), dd);
    countdown(dd, v.expiresAt);
  }
  if (v.nonce !== undefined) fact(dl, 'Nonce', String(v.nonce));
  if (v.payload !== undefined && v.payload !== '') fact(dl, 'Payload', v.payload);
  if (v.room) {
    const privs = [v.room.login ? 'log in' : '', v.room.publish ? 'publish' : ''].filter(Boolean).join(', ') || 'none';
    fact(dl, 'Room', v.room.roomID);
    fact(dl, 'Room privileges', privs);
    if (v.room.streamIDs && v.room.streamIDs.length) fact(dl, 'Stream IDs', v.room.streamIDs.join(', '));
  }
  if (v.secret) fact(dl, 'Opened with', v.secret === 'current' ? 'the app\'s current secret' : 'a previous secret of the app');
  $('inspect-result').hidden = false;
}

async function mint() {
  const body = { userID: $('mint-userid').value };
  const appID = optionalInt($('mint-appid').value, 'appID');
  if (appID !== undefined) body.appID = appID;
  const ttl = optionalInt($('mint-ttl').value, 'Lifetime');
  if (ttl !== undefined) body.effectiveTimeInSeconds = ttl;
  if ($('mint-kind-rtc').checked) {
    const streams = $('mint-streams').value.split(',').map((s) => s.trim()).filter(Boolean);
    body.room = { roomID: $('mint-roomid').value, login: $('mint-login').checked, publish: $('mint-publish').checked };
    if (streams.length) body.room.streamIDs = streams;
  }
  const t = await call('POST', '/v1/token', body);
  $('mint-token').value = t.token;
  $('mint-expiry').textContent = 'For ' + t.userID + ' in app ' + t.appID + (t.room ? ', room ' + t.room.roomID : '') +
    '; expires ' + formatUnix(t.expiresAt) + '.';
  $('mint-result').hidden = false;
  say('Token minted.');
}

async function copy() {
  const text = $('mint-token').value;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Without clipboard permission, leave the token selected for Ctrl+C.
    $('mint-token').select();
    say('Selected; press Ctrl+C (⌘C) to copy.');
    return;
  }
  say('Copied.');
}

export function init() {
  $('inspect-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    guard(inspect);
  });
  $('mint-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    guard(mint);
  });
  const room = $('mint-room');
  const kind = () => {
    const rtc = $('mint-kind-rtc').checked;
    room.hidden = !rtc;
    room.disabled = !rtc; // a disabled fieldset's required roomID does not block a ZIM token
  };
  $('mint-kind-zim').addEventListener('change', kind);
  $('mint-kind-rtc').addEventListener('change', kind);
  $('mint-copy').addEventListener('click', copy);
  $('mint-inspect').addEventListener('click', () => {
    $('inspect-token').value = $('mint-token').value;
    $('inspect-userid').value = '';
    $('inspect-appid').value = '';
    location.hash = '#inspect';
    guard(inspect);
  });
}
