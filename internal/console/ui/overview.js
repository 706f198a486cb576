// Overview: the build version, the number of users and each configured app's
// public settings (GET /v1/overview never carries a secret).

import { call } from './api.js';
import { $, el, clear, row, guard, duration } from './dom.js';

export function show() {
  guard(async () => {
    const o = await call('GET', '/v1/overview');
    $('overview-version').textContent = o.version;
    $('overview-users').textContent = String(o.users);
    const body = $('overview-apps').tBodies[0];
    clear(body);
    for (const a of o.apps || []) {
      body.append(row(
        String(a.appID),
        a.default ? 'yes' : 'no',
        a.variant,
        duration(a.ttl.default),
        duration(a.ttl.min) + ' – ' + duration(a.ttl.max),
        String(a.previousSecrets),
      ));
    }
    if (!(o.apps || []).length) body.append(el('tr', {}, el('td', { colspan: 6, text: 'No apps configured.' })));
  });
}
