// Rota page: nothing irreversible without a confirmation, and a carer picker that scales.
(() => {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
  // A reassign that leaves no carer at all needs a confirmation too.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("reassign")) return;
    if (form.querySelector('input[name="carer_ids"]')) return;
    if (!window.confirm("Leave this visit with no carer? Its carers' phones will drop it.")) event.preventDefault();
  });

  // The branch's carers, once per page (not once per row).
  const data = document.getElementById("carers-data");
  const carers = data ? JSON.parse(data.textContent || "[]") : [];
  const MAX_OPTIONS = 8;

  // ARIA combobox (list autocomplete) per visit: type to filter, arrows to move, Enter to
  // add the carer as a chip; each chip has a Remove button. Double-ups keep every chip.
  for (const picker of document.querySelectorAll("[data-picker]")) {
    const input = picker.querySelector('input[role="combobox"]');
    const list = picker.querySelector('[role="listbox"]');
    const chosen = picker.querySelector(".chosen");
    const status = picker.querySelector(".picker-status");
    let options = [];
    let active = -1;

    const taken = () => new Set([...chosen.querySelectorAll('input[name="carer_ids"]')].map((i) => i.value));

    const close = () => {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    };

    const highlight = (index) => {
      active = index;
      list.querySelectorAll('[role="option"]').forEach((option, i) => {
        option.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0) input.setAttribute("aria-activedescendant", `${list.id}-${index}`);
      else input.removeAttribute("aria-activedescendant");
    };

    const open = () => {
      const wanted = input.value.trim().toLowerCase();
      const have = taken();
      options = carers.filter((c) => !have.has(c.id) && c.name.toLowerCase().includes(wanted)).slice(0, MAX_OPTIONS);
      list.replaceChildren(
        ...options.map((carer, i) => {
          const option = document.createElement("li");
          option.id = `${list.id}-${i}`;
          option.setAttribute("role", "option");
          option.setAttribute("aria-selected", "false");
          option.textContent = carer.name;
          option.addEventListener("mousedown", (event) => {
            event.preventDefault(); // keep the focus in the input
            add(carer);
          });
          return option;
        }),
      );
      list.hidden = options.length === 0;
      input.setAttribute("aria-expanded", options.length ? "true" : "false");
      highlight(options.length ? 0 : -1);
      status.textContent = options.length ? `${options.length} carer${options.length === 1 ? "" : "s"} found` : "No carer found";
    };

    const chip = (carer) => {
      const item = document.createElement("li");
      const hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = "carer_ids";
      hidden.value = carer.id;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.setAttribute("aria-label", `Remove ${carer.name}`);
      remove.textContent = "×";
      const link = document.createElement("a");
      link.href = `/console/carers/${encodeURIComponent(carer.id)}`;
      link.textContent = carer.name;
      item.append(hidden, link, document.createTextNode(" "), remove);
      return item;
    };

    const add = (carer) => {
      chosen.append(chip(carer));
      input.value = "";
      close();
      status.textContent = `${carer.name} added; press Reassign to save`;
      input.focus();
    };

    chosen.addEventListener("click", (event) => {
      const button = event.target instanceof Element ? event.target.closest("button.remove") : null;
      if (!button) return;
      const name = button.getAttribute("aria-label").replace(/^Remove /, "");
      button.closest("li").remove();
      status.textContent = `${name} removed; press Reassign to save`;
      input.focus();
    });

    input.addEventListener("input", open);
    input.addEventListener("focus", () => {
      if (input.value) open();
    });
    input.addEventListener("blur", close);
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (list.hidden) open();
        else highlight(Math.min(active + 1, options.length - 1));
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        highlight(Math.max(active - 1, 0));
      } else if (event.key === "Enter") {
        if (!list.hidden && active >= 0) {
          event.preventDefault(); // choose, do not submit
          add(options[active]);
        } else if (input.value) {
          event.preventDefault();
        }
      } else if (event.key === "Escape") {
        if (!list.hidden) {
          event.preventDefault();
          close();
        } else {
          input.value = "";
        }
      }
    });
  }
})();
