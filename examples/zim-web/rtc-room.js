// rtc-room.js: logs the user in to an RTC room (the ZEGO Express Web SDK) with
// a Token04 from authsvc that carries the user's room privileges, and renews
// the token before it expires.

// README:begin rtc
// joinRoom logs the authsvc user in to an RTC room and returns the token.
// engine is a ZegoExpressEngine for the same appID; room names the privileges
// the token carries, e.g.
// {roomID: 'room-1', login: true, publish: true, streamIDs: ['alice-cam']}
// (streamIDs lists the streams the user may publish; null allows any).
async function joinRoom(engine, client, room) {
  let current = await client.token(room);

  // The engine warns shortly before a room's token expires, naming the room.
  engine.on('tokenWillExpire', async (roomID) => {
    if (roomID !== room.roomID) {
      return;
    }
    try {
      current = await client.renew(current.token);
      if (!engine.renewToken(current.token, roomID)) {
        throw new Error('the engine refused the renewed token');
      }
    } catch (err) {
      console.error('renewing the token for room ' + roomID + ' failed:', err);
    }
  });

  const user = { userID: current.userID, userName: current.userName };
  if (!(await engine.loginRoom(room.roomID, current.token, user, { userUpdate: true }))) {
    throw new Error('logging in to room ' + room.roomID + ' failed');
  }
  return current;
}
// README:end rtc
