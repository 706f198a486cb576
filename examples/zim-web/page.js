// page.js: connects the form in index.html to connect (app.js).

const form = document.getElementById('connect');
const logLines = document.getElementById('log');

function show(line) {
  logLines.textContent += line + '\n';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const f = form.elements;
  let rtc = null;
  if (f.roomID.value.trim() !== '') {
    if (typeof ZegoExpressEngine !== 'function') {
      show('RTC: the Express SDK is not loaded (see README.md); ZIM only');
    } else {
      rtc = { appID: Number(f.appID.value), server: f.rtcServer.value, roomID: f.roomID.value.trim() };
    }
  }
  try {
    await connect(f.server.value, f.userID.value, f.password.value, rtc, show);
  } catch (err) {
    show('error: ' + (err.code ? err.code + ': ' : '') + err.message);
  }
});
