// Stand-ins for the parts of the ZIM Web SDK and the Express Web SDK that the
// example uses, with the same shapes. They record every call, and fire lets
// the test raise an SDK event; it returns a promise that settles when the
// example's handlers have. FakeZIM.loginHangs makes login never settle, as
// when ZIM cannot reach its servers.
//
// setTimeout and clearTimeout are the browser's, on a fake clock that only
// advanceTimers moves, so no test waits for real time.

const fakeTimers = { now: 0, nextID: 1, pending: new Map() };

function setTimeout(callback, ms) {
  const id = fakeTimers.nextID++;
  fakeTimers.pending.set(id, { at: fakeTimers.now + (ms || 0), callback });
  return id;
}

function clearTimeout(id) {
  fakeTimers.pending.delete(id);
}

// advanceTimers moves the clock ms forward, running the callbacks that come
// due, in order of their time.
function advanceTimers(ms) {
  const until = fakeTimers.now + ms;
  for (;;) {
    let next = null;
    for (const [id, timer] of fakeTimers.pending) {
      if (timer.at <= until && (next === null || timer.at < next.timer.at)) {
        next = { id, timer };
      }
    }
    if (next === null) {
      break;
    }
    fakeTimers.pending.delete(next.id);
    fakeTimers.now = next.timer.at;
    next.timer.callback();
  }
  fakeTimers.now = until;
}

class FakeZIM {
  static create(config) {
    if (FakeZIM.instance) {
      return null; // like ZIM: one instance, later calls get null
    }
    FakeZIM.instance = new FakeZIM(config);
    return FakeZIM.instance;
  }

  static getInstance() {
    return FakeZIM.instance || null;
  }

  constructor(config) {
    this.config = config;
    this.calls = [];
    this.handlers = {};
  }

  on(type, listener) {
    this.handlers[type] = listener;
  }

  login(userID, config) {
    this.calls.push({ method: 'login', userID, userName: config.userName, token: config.token });
    return FakeZIM.loginHangs ? new Promise(() => {}) : Promise.resolve();
  }

  logout() {
    this.calls.push({ method: 'logout' });
  }

  async renewToken(token) {
    this.calls.push({ method: 'renewToken', token });
    return { token };
  }

  fire(type, data) {
    const listener = this.handlers[type];
    return Promise.resolve(listener ? listener(this, data) : undefined);
  }
}
FakeZIM.instance = null;
FakeZIM.loginHangs = false;

class FakeExpressEngine {
  constructor(appID, server) {
    this.appID = appID;
    this.server = server;
    this.calls = [];
    this.handlers = {};
  }

  on(event, callback) {
    if (!this.handlers[event]) {
      this.handlers[event] = [];
    }
    this.handlers[event].push(callback);
    return true;
  }

  async loginRoom(roomID, token, user, config) {
    this.calls.push({ method: 'loginRoom', roomID, token, userID: user.userID, userName: user.userName, userUpdate: !!(config && config.userUpdate) });
    return true;
  }

  renewToken(token, roomID) {
    this.calls.push({ method: 'renewToken', roomID, token });
    return true;
  }

  fire(event, ...args) {
    return Promise.all((this.handlers[event] || []).map((callback) => callback(...args)));
  }
}
