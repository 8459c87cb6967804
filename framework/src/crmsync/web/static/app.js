// crmsync's pages work without this file; it only opens dialogs in place and asks
// before a destructive form is sent. Loaded from this app only (CSP script-src 'self').
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A link with data-dialog opens that <dialog> instead of loading ?edit=... / ?delete=...
  for (const link of document.querySelectorAll("a[data-dialog]")) {
    link.addEventListener("click", (event) => {
      const dialog = document.getElementById(link.dataset.dialog);
      if (dialog && typeof dialog.showModal === "function") {
        event.preventDefault();
        dialog.classList.remove("noscript");
        dialog.showModal();
      }
    });
  }
  // Cancel closes the dialog in place (without script it is a link back).
  for (const cancel of document.querySelectorAll("[data-close]")) {
    cancel.addEventListener("click", (event) => {
      const dialog = cancel.closest("dialog");
      if (dialog && dialog.open) {
        event.preventDefault();
        dialog.close();
      }
    });
  }
  // A dialog rendered open (no script, or after a refused change) is shown modal.
  for (const dialog of document.querySelectorAll("dialog[open].noscript")) {
    dialog.removeAttribute("open");
    dialog.classList.remove("noscript");
    if (typeof dialog.showModal === "function") dialog.showModal();
  }
  // The Integration Active switch sends its form when it changes.
  for (const input of document.querySelectorAll("input[data-autosubmit]")) {
    input.addEventListener("change", () => input.form.requestSubmit());
  }
  // Show the settings of the connector chosen on each side (create integration).
  for (const pick of document.querySelectorAll("select[data-settings-for]")) {
    const side = pick.dataset.settingsFor;
    const show = () => {
      for (const group of document.querySelectorAll(`fieldset[data-side="${side}"]`)) {
        const on = group.dataset.connectorSettings === pick.value;
        group.hidden = !on;
        for (const input of group.querySelectorAll("input[name], select[name]")) {
          input.disabled = !on;
        }
      }
    };
    pick.addEventListener("change", show);
    show();
  }
});
