// Following the console feed (/ws/console) from the positions a page was rendered at:
// resumed from the last (epoch, seq) seen per feed, so a reconnect neither misses nor
// repeats an event; a feed reset starts that feed again from 0. Shared by the pages that
// follow it (notifications, rota, carer).
//   followConsoleFeed({ positions, onEvent(event), setLive(state, text), texts: { live,
//                       tooManyWindows, reconnecting } })
window.followConsoleFeed = ({ positions, onEvent, setLive, texts }) => {
  let delay = 500;

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
        setLive("live", texts.live);
        for (const feed of frame.feeds) {
          if (feed.action === "reset" || feed.action === "clean_sync") {
            positions[feed.feed] = { feed: feed.feed, epoch: feed.epoch, seq: 0 };
          }
        }
      } else if (frame.type === "event") {
        positions[frame.feed] = { feed: frame.feed, epoch: frame.epoch, seq: frame.seq };
        onEvent(frame.event);
      }
    });
    socket.addEventListener("close", (closed) => {
      if (closed.code === 4100 || closed.code === 4106) {
        // 4100: the session cookie no longer signs in; 4106: the session ended (signed out,
        // revoked, password changed or expired) while the page was open.
        location.href = "/console/sign-in?message=expired";
        return;
      }
      // 4006: this user has the most console windows a server allows open; one may close.
      setLive("down", closed.code === 4006 ? texts.tooManyWindows : texts.reconnecting);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }

  connect();
};
