// Stand-ins for the parts of the ZIM Web SDK and the Express Web SDK that the
// example uses, with the same shapes. They record every call, and fire lets
// the test raise an SDK event; it returns a promise that settles when the
// example's handlers have.

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

  async login(userID, config) {
    this.calls.push({ method: 'login', userID, userName: config.userName, token: config.token });
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
