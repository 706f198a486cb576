// app.js: the demo page's wiring. It logs in to authsvc with the form's
// credentials, then to ZIM, then, when a room is given and the Express SDK is
// loaded, to that RTC room.

const form = document.getElementById('connect');
const logLines = document.getElementById('log');

function show(line) {
  logLines.textContent += line + '\n';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const f = form.elements;
  const client = new AuthsvcClient(f.server.value);
  try {
    const session = await client.logIn(f.userID.value, f.password.value);
    show('authsvc: logged in as ' + session.userID + ' for ' + session.expiresIn + ' s');

    await connectZIM(ZIM, client);
    show('ZIM: logged in; the token is renewed before it expires');

    const roomID = f.roomID.value.trim();
    if (roomID === '') {
      return;
    }
    if (typeof ZegoExpressEngine !== 'function') {
      show('RTC: the Express SDK is not loaded (see README.md)');
      return;
    }
    const engine = new ZegoExpressEngine(Number(f.appID.value), f.rtcServer.value);
    const room = { roomID, login: true, publish: true, streamIDs: null };
    const token = await joinRoom(engine, client, room);
    show('RTC: in room ' + roomID + ' until ' + new Date(token.expiresAt * 1000).toISOString() + ', then renewed');
  } catch (err) {
    show('error: ' + (err.code ? err.code + ': ' : '') + err.message);
  }
});
