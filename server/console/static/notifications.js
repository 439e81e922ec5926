// Live sync-mismatch notifications: the console feed over /ws/console, resumed from the
// last (epoch, seq) seen per feed, so a reconnect neither misses nor repeats an event.
// Every text goes through textContent: names can never become markup.
(() => {
  const list = document.getElementById("alerts");
  const live = document.getElementById("live");
  const empty = document.getElementById("empty");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const zone = list.dataset.timezone;
  const positions = JSON.parse(list.dataset.positions || "{}");
  const diagnosis = {
    offline: "phone offline",
    not_acknowledging: "connected but not acknowledging",
    no_device: "no device",
  };
  const timeFormat = new Intl.DateTimeFormat("en-GB", {
    weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", timeZone: zone,
  });
  let delay = 500;

  function setLive(state, text) {
    live.dataset.state = state;
    live.textContent = text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function urgencyText(alert) {
    const minutes = alert.minutes_until_start;
    if (minutes === null) return "No upcoming visit affected.";
    if (minutes < 0) return `First affected visit started ${-minutes} min ago.`;
    return `First affected visit starts in ${minutes} min.`;
  }

  function card(alert) {
    const item = el("li", `alert severity-${alert.severity}`);
    item.dataset.alertId = alert.id;
    item.dataset.severity = alert.severity;
    item.dataset.minutes = alert.minutes_until_start === null ? "100000" : String(alert.minutes_until_start);
    const head = el("div", "alert-head");
    const name = el("strong", "carer");
    const link = el("a", "", alert.carer_name);
    link.href = `/console/carers/${encodeURIComponent(alert.carer_id)}`;
    name.append(link);
    const close = el("button", "dismiss", "\u00d7");
    close.type = "button";
    close.dataset.alertId = alert.id;
    close.setAttribute("aria-label", `Close the alert for ${alert.carer_name}`);
    head.append(name, el("span", "badge", alert.severity), el("span", "state", diagnosis[alert.diagnosis]), close);
    const visits = el("ul", "visits");
    for (const visit of alert.visits) {
      visits.append(el("li", "", `${visit.client_name} at ${timeFormat.format(new Date(visit.starts_at))}: ${visit.change}`));
    }
    item.append(head, el("p", "urgency", urgencyText(alert)), visits, el("p", "action", alert.action));
    return item;
  }

  function sortCards() {
    const cards = [...list.children];
    cards.sort((a, b) => (a.dataset.severity !== b.dataset.severity ? (a.dataset.severity === "high" ? -1 : 1)
      : Number(a.dataset.minutes) - Number(b.dataset.minutes)));
    list.append(...cards);
    empty.hidden = cards.length > 0;
  }

  function apply(event) {
    if (!event.kind.startsWith("alert_")) return;
    const existing = list.querySelector(`[data-alert-id="${CSS.escape(event.alert.id)}"]`);
    if (event.kind === "alert_raised" || event.kind === "alert_updated") {
      const fresh = card(event.alert);
      if (existing) existing.replaceWith(fresh); else list.append(fresh);
    } else if (existing) {
      existing.remove();
    }
    sortCards();
  }

  list.addEventListener("click", async (click) => {
    const button = click.target.closest("button.dismiss");
    if (!button) return;
    button.disabled = true;
    const response = await fetch(`/console/alerts/${encodeURIComponent(button.dataset.alertId)}/dismiss`, {
      method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin",
    });
    if (response.ok || response.status === 409) {
      button.closest("li.alert")?.remove();
      sortCards();
    } else {
      button.disabled = false;
    }
  });

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
        setLive("live", "Live");
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
        // 4100: the session cookie no longer signs in; 4106: the session ended (signed out,
        // revoked, password changed or expired) while the page was open.
        location.href = "/console/sign-in?message=expired";
        return;
      }
      setLive("down", "Disconnected: reconnecting…");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    });
  }

  sortCards();
  connect();
})();
