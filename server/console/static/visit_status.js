// Visit status, live: the rota and carer pages follow the console feed (/ws/console) from
// the heads they were rendered at (data-live-positions) and set a visit's status cell when
// a visit_status event names it: a carer checked in or out, or the visit turned late or
// missed. Texts go through textContent only.
(() => {
  const holder = document.querySelector("[data-live-positions]");
  if (!holder) return;
  const positions = JSON.parse(holder.dataset.livePositions || "{}");
  const live = document.getElementById("status-live");

  function setLive(state, text) {
    if (!live) return;
    live.dataset.state = state;
    live.textContent = text;
  }

  function apply(event) {
    if (event.kind !== "visit_status") return;
    const rows = document.querySelectorAll(`tr[data-visit-id="${CSS.escape(event.visit_id)}"]`);
    for (const row of rows) {
      const cell = row.querySelector(".visit-status");
      if (!cell) continue;
      cell.dataset.state = event.status;
      cell.textContent = event.status.replaceAll("_", " ");
    }
  }

  window.followConsoleFeed({
    positions,
    onEvent: apply,
    setLive,
    texts: {
      live: "Status live",
      tooManyWindows: "Status not live: too many console windows open",
      reconnecting: "Status not live: reconnecting…",
    },
  });
})();
