// Attention for high alerts: their count in the tab title, and, when the coordinator opts
// in (remembered in this browser), a short sound and a desktop notification for each new one.
(() => {
  const KEY = "caresync.attention";
  const baseTitle = document.title;
  const toggle = document.getElementById("attention");

  function updateTitle() {
    const high = document.querySelectorAll('#alerts li.alert[data-severity="high"]').length;
    document.title = high ? `(${high} high) ${baseTitle}` : baseTitle;
  }

  function enabled() {
    return localStorage.getItem(KEY) === "on";
  }

  function beep() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    const audio = new Context();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.2;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.25);
    tone.addEventListener("ended", () => audio.close());
  }

  function notify(alert) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const first = alert.visits && alert.visits[0];
    new Notification(`High sync alert: ${alert.carer_name}`, {
      body: first ? `${first.client_name}: ${first.change}` : alert.action,
      tag: alert.id,
    });
  }

  document.addEventListener("caresync:alerts-changed", updateTitle);
  document.addEventListener("caresync:high-alert", (event) => {
    if (!enabled()) return;
    beep();
    notify(event.detail);
  });

  if (toggle) {
    toggle.checked = enabled();
    toggle.addEventListener("change", async () => {
      localStorage.setItem(KEY, toggle.checked ? "on" : "off");
      if (toggle.checked && "Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission();
      }
    });
  }
  updateTitle();
})();
