// Visit status, live: the rota and carer pages follow the console feed (/ws/console) from
// the heads they were rendered at (data-live-positions) and set a visit's status cell when
// a visit_status event names it: a carer checked in or out, or the visit turned late or
// missed. Texts go through textContent only.
(() => {
  const holder = document.querySelector("[data-live-positions]");
  if (!holder) return;
  const positions = JSON.parse(holder.dataset.livePositions || "{}");
  const live = document.getElementById("status-live");
  let delay = 500;

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

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(`${scheme}${location.host}/ws/console`);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "console_hello", token: "cookie", positions: Object.values(positions) }));
    });
    socket.addEventListener("message", (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "console_welcome") {
        delay = 500;
        setLive("live", "Status live");
        for (const feed of frame.feeds) {
          if (feed.action === "reset" || feed.action === "clean_sync") {
            positions[feed.feed] = { feed: feed.feed, epoch: feed.epoch, seq: 0 };
          }
        }
      } else if (frame.type === "event") {
        positions[frame.feed] = { feed: frame.feed, epoch: frame.epoch, seq: frame.seq };
        apply(frame.event);
      }
    });
    socket.addEventListener("close", (closed) => {
      if (closed.code === 4100 || closed.code === 4106) {
        location.href = "/console/sign-in?message=expired";  // the session ended
        return;
      }
      setLive("down", closed.code === 4006 ? "Status not live: too many console windows open" : "Status not live: reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }

  connect();
})();
