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
    not_seen: "delivered, not seen by the carer",
    no_check_in: "no check-in",
  };
  const contacts = JSON.parse(list.dataset.contacts || "{}");
  const timeFormat = new Intl.DateTimeFormat("en-GB", {
    weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZone: zone,
  });
  // The server's format, "Mon 07 Dec 10:02", whatever the browser's locale and punctuation.
  function when(date) {
    const part = Object.fromEntries(timeFormat.formatToParts(date).map((p) => [p.type, p.value]));
    return `${part.weekday} ${part.day} ${part.month} ${part.hour}:${part.minute}`;
  }

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

  function urgencyText(minutes) {
    if (minutes === null) return "No upcoming visit affected.";
    if (minutes < 0) return `First affected visit started ${-minutes} min ago.`;
    return `First affected visit starts in ${minutes} min.`;
  }

  // The server says how many minutes were left when it computed the alert; the card
  // counts down from there on this browser's clock, so it never goes out of date.
  function track(item, minutes) {
    item.dataset.baseMinutes = minutes === null ? "" : String(minutes);
    item.dataset.seenAt = String(Date.now());
  }

  function tick() {
    for (const item of list.querySelectorAll("li.alert")) {
      if (item.dataset.baseMinutes === undefined || item.dataset.baseMinutes === "") continue;
      const elapsed = Math.floor((Date.now() - Number(item.dataset.seenAt)) / 60000);
      const minutes = Number(item.dataset.baseMinutes) - elapsed;
      item.dataset.minutes = String(minutes);
      const urgency = item.querySelector(".urgency");
      if (urgency) urgency.textContent = urgencyText(minutes);
    }
    sortCards();
  }

  function reachText(alert) {
    const phones = alert.devices.map((device) => {
      const state = device.connected ? "connected now"
        : device.last_seen_at ? `last seen ${when(new Date(device.last_seen_at))}` : "never seen";
      return `phone \u201c${device.name}\u201d ${state}`;
    });
    const contact = contacts[alert.carer_id];
    const number = contact && contact.phone ? `${contact.phone}${contact.notes ? ` (${contact.notes})` : ""}, ` : "";
    return `To reach ${alert.carer_name}: ${number}${phones.length ? phones.join("; ") : "no phone registered"}. `;
  }

  function closedItem(alert) {
    const item = el("li");
    item.dataset.alertId = alert.id;
    item.append(el("strong", "", alert.carer_name));
    const resolvedBy = { not_seen: "the carer saw the change", no_check_in: "a carer checked in" }[alert.diagnosis]
      || "the phone acknowledged the changes";
    const who = alert.status === "resolved" ? `resolved (${resolvedBy})`
      : `Closed by ${alert.closed_by_name || "a coordinator"}`;
    const at = alert.closed_at ? when(new Date(alert.closed_at)) : "";
    item.append(document.createTextNode(`: ${who} at ${at}; raised ${when(new Date(alert.raised_at))}.`));
    return item;
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
      visits.append(el("li", "", `${visit.client_name} at ${when(new Date(visit.starts_at))}: ${visit.change}`));
    }
    const raised = el("p", "raised", `Raised ${when(new Date(alert.raised_at))}`);
    const reach = el("p", "reach", reachText(alert));
    const page = el("a", "", "Carer's page");
    page.href = link.href;
    reach.append(page);
    const error = el("p", "dismiss-error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    item.append(head, el("p", "urgency", urgencyText(alert.minutes_until_start)), raised, visits,
      el("p", "action", alert.action), reach, error);
    track(item, alert.minutes_until_start);
    return item;
  }

  function sortCards() {
    const cards = [...list.children];
    cards.sort((a, b) => (a.dataset.severity !== b.dataset.severity ? (a.dataset.severity === "high" ? -1 : 1)
      : Number(a.dataset.minutes) - Number(b.dataset.minutes)));
    list.append(...cards);
    empty.hidden = cards.length > 0;
    document.dispatchEvent(new CustomEvent("caresync:alerts-changed"));
  }

  function apply(event) {
    if (!event.kind.startsWith("alert_")) return;
    const existing = list.querySelector(`[data-alert-id="${CSS.escape(event.alert.id)}"]`);
    if (event.kind === "alert_raised" || event.kind === "alert_updated") {
      const fresh = card(event.alert);
      const becameHigh = event.alert.severity === "high" && existing?.dataset.severity !== "high";
      if (existing) existing.replaceWith(fresh); else list.append(fresh);
      if (becameHigh) document.dispatchEvent(new CustomEvent("caresync:high-alert", { detail: event.alert }));
    } else {
      existing?.remove();
      const closedList = document.getElementById("closed");
      closedList.querySelector(`[data-alert-id="${CSS.escape(event.alert.id)}"]`)?.remove();
      closedList.prepend(closedItem(event.alert));
    }
    sortCards();
  }

  list.addEventListener("click", async (click) => {
    const button = click.target.closest("button.dismiss");
    if (!button) return;
    const item = button.closest("li.alert");
    const error = item?.querySelector(".dismiss-error");
    const failed = (text) => {
      if (error) { error.textContent = text; error.hidden = false; }
      button.disabled = false;
    };
    button.disabled = true;
    if (error) error.hidden = true;
    let response;
    try {
      response = await fetch(`/console/alerts/${encodeURIComponent(button.dataset.alertId)}/dismiss`, {
        method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin",
      });
    } catch {
      failed("Could not close the alert: the server cannot be reached. Try again.");
      return;
    }
    if (response.ok || response.status === 409) {
      item?.remove();
      sortCards();
    } else {
      failed(`Could not close the alert (error ${response.status}). Try again.`);
    }
  });

  for (const item of list.querySelectorAll("li.alert")) {
    const minutes = item.dataset.minutes === "100000" ? null : Number(item.dataset.minutes);
    track(item, minutes);
  }
  sortCards();
  setInterval(tick, 15000);
  window.followConsoleFeed({
    positions,
    onEvent: apply,
    setLive,
    texts: {
      live: "Live",
      tooManyWindows: "Too many console windows open: close one. Reconnecting…",
      reconnecting: "Disconnected: reconnecting…",
    },
  });
})();
