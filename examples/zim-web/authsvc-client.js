// authsvc-client.js: the browser's side of authsvc's HTTP API
// (api/openapi.yaml): log in, get a Token04, renew it.
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
    const session = await this.post('/v1/sessions', { userID, password });
    this.accessToken = session.accessToken;
    return session;
  }

  // token gets a Token04 for the logged-in user: with no argument for ZIM,
  // or with a room for RTC, e.g.
  // {roomID: 'room-1', login: true, publish: true, streamIDs: ['alice-cam']}.
  token(room) {
    return this.post('/v1/token', room ? { room } : {});
  }

  // renew trades a token that is about to expire for a new one for the same
  // user and room privileges, which never expires earlier.
  renew(token) {
    return this.post('/v1/token/renew', { token });
  }

  async post(path, body) {
    const headers = { 'Content-Type': 'application/json' };
    if (this.accessToken) {
      headers.Authorization = 'Bearer ' + this.accessToken;
    }
    const resp = await fetch(this.baseURL + path, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
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
