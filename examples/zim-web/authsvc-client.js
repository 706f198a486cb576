// authsvc-client.js: the browser's side of authsvc's HTTP API
// (api/openapi.yaml): log in, get a Token04, renew it, log out.
//
// A classic script with no dependencies and no build step; it declares the
// classes AuthsvcClient and AuthsvcError for the page's other scripts.
// authsvc must list the page's origin in AUTHSVC_CORS_ORIGINS, or the browser
// blocks every call.

// README:begin client
// AuthsvcClient calls authsvc for one user. It keeps the session token in
// memory only, and never stores the password.
class AuthsvcClient {
  constructor(baseURL) {
    this.baseURL = baseURL.replace(/\/+$/, '');
    this.accessToken = '';
  }

  // logIn trades the user's password for a session token.
  async logIn(userID, password) {
    this.accessToken = '';
    const session = await this.call('POST', '/v1/sessions', { userID, password });
    this.accessToken = session.accessToken;
    return session;
  }

  // token gets a Token04 for the logged-in user: with no argument for ZIM,
  // or with a room for RTC, e.g.
  // {roomID: 'room-1', login: true, publish: true, streamIDs: ['alice-cam']}.
  token(room) {
    return this.call('POST', '/v1/token', room ? { room } : {});
  }

  // renew trades a token that is about to expire for a new one for the same
  // user and room privileges, which never expires earlier.
  renew(token) {
    return this.call('POST', '/v1/token/renew', { token });
  }

  // logOut ends the session: authsvc refuses its token from now on. The
  // user's other sessions (other tabs, other devices) go on.
  async logOut() {
    if (this.accessToken) {
      await this.call('DELETE', '/v1/sessions/current');
    }
    this.accessToken = '';
  }

  async call(method, path, body) {
    const headers = {};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    if (this.accessToken) {
      headers.Authorization = 'Bearer ' + this.accessToken;
    }
    const resp = await fetch(this.baseURL + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      throw new AuthsvcError(resp.status, data);
    }
    return data;
  }
}

// AuthsvcError is a call authsvc refused. code is the problem's stable code:
// invalid_credentials for a wrong password, unauthorized once the session has
// ended (log in again), rate_limited, and so on.
class AuthsvcError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || 'HTTP ' + status);
    this.name = 'AuthsvcError';
    this.status = status;
    this.code = problem.code || '';
    this.problem = problem;
  }
}
// README:end client
