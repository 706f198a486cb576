// zim-login.js: logs the user in to ZIM (the ZIM Web SDK, v2) with a Token04
// from authsvc, and renews the token before it expires.

// README:begin zim
// connectZIM logs the authsvc user in to ZIM and returns the ZIM instance.
// ZIM is the SDK's class (the global ZIM, or import { ZIM } from
// 'zego-zim-web'); client is an AuthsvcClient that has logged in.
async function connectZIM(ZIM, client) {
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

  await zim.login(current.userID, {
    userName: current.userName,
    token: current.token,
  });
  return zim;
}
// README:end zim
