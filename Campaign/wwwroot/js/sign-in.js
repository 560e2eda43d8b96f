// The sign-in link carries its token after '#', which browsers never send to a server. This reads it
// into the form (the visitor then presses the button: a mail scanner that opens links signs nobody
// in) and removes it from the address bar and the history.
(function () {
  var match = /[#&]token=([A-Za-z0-9_-]+)/.exec(window.location.hash);
  if (!match) return;
  document.getElementById("token").value = match[1];
  history.replaceState(null, "", window.location.pathname);
  document.getElementById("sign-in-button").focus();
})();
