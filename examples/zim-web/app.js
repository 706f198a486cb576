// app.js: the whole flow as the demo page runs it. page.js calls connect with
// the form's values; the SDKs are the globals ZIM and ZegoExpressEngine.

// README:begin usage
// connect logs the user in to authsvc, then ZIM, then, when rtc names a room,
// that RTC room. show reports each step.
async function connect(server, userID, password, rtc, show) {
  const client = new AuthsvcClient(server);
  const session = await client.logIn(userID, password);
  show('authsvc: logged in as ' + session.userID + ' for ' + session.expiresIn + ' s');

  await connectZIM(ZIM, client);
  show('ZIM: logged in; the token is renewed before it expires');

  if (rtc) {
    const engine = new ZegoExpressEngine(rtc.appID, rtc.server);
    const room = { roomID: rtc.roomID, login: true, publish: true, streamIDs: null };
    const token = await joinRoom(engine, client, room);
    show('RTC: in room ' + room.roomID + ' until ' + new Date(token.expiresAt * 1000).toISOString());
  }
}
// README:end usage
