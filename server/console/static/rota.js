// Rota page: nothing irreversible without a confirmation.
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
    if (form.querySelector('input[name="carer_ids"]:checked')) return;
    if (!window.confirm("Leave this visit with no carer? Its carers' phones will drop it.")) event.preventDefault();
  });
})();
