// zim-login.js: logs the user in to ZIM (the ZIM Web SDK, v2) with a Token04
// from authsvc, and renews the token before it expires.

// README:begin zim
// connectZIM logs the authsvc user in to ZIM and returns the ZIM instance.
// ZIM is the SDK's class (the global ZIM, or import { ZIM } from
// 'zego-zim-web'); client is an AuthsvcClient that has logged in. A login
// that has not succeeded within timeoutMs (a wrong appID, a blocked network)
// is abandoned and fails with an error that says so, rather than leaving the
// user waiting.
async function connectZIM(ZIM, client, timeoutMs = 15000) {
  let current = await client.token();
  const zim = ZIM.create({ appID: current.appID }) || ZIM.getInstance();

  // ZIM warns shortly before the token expires: get a renewed one from
  // authsvc and hand it to ZIM, which keeps the connection.
  zim.on('tokenWillExpire', async () => {
    try {
      current = await client.renew(current.token);
      await zim.renewToken(current.token);
    } catch (err) {
      // err.code 'unauthorized': the authsvc session has ended; log in again.
      console.error('renewing the ZIM token failed:', err);
    }
  });

  let timer;
  const timedOut = new Promise((resolve, reject) => {
    timer = setTimeout(() => {
      zim.logout(); // stop the attempt still under way
      reject(new Error('ZIM: no connection after ' + timeoutMs / 1000 + ' s; check the appID and the network'));
    }, timeoutMs);
  });
  try {
    await Promise.race([
      zim.login(current.userID, { userName: current.userName, token: current.token }),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
  return zim;
}
// README:end zim
