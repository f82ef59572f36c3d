// Rating a meal: on the tablet handed over after checkout (the device's token), or on the
// guest's phone from the receipt's QR (the link's signature stands in for a token).
"use strict";

(() => {
  const { api, translate } = laoke;
  const $ = (id) => document.getElementById(id);
  const query = new URLSearchParams(location.search);
  const order = query.get("order") || "";
  const sig = query.get("sig");

  translate();
  $("language").onclick = () => laoke.toggleLanguage();

  $("rate").onsubmit = async (submit) => {
    submit.preventDefault();
    const form = new FormData($("rate"));
    const body = { order_id: order, rating: Number(form.get("rating")),
                   tags: form.getAll("tags"), comment: (form.get("comment") || "").trim() };
    const { status, data } = sig
      ? await api("POST", "/feedback/signed", { ...body, sig })
      : await api("POST", "/feedback", body);
    if (status !== 201 && status !== 409) { $("rate-error").textContent = data.message; return; }
    $("rate").hidden = true;
    $("thanks").hidden = false;
    // Back to the till after a moment on the tablet; the guest's phone keeps the thanks.
    if (!sig && query.get("back")) setTimeout(() => { location.href = query.get("back"); }, 2500);
  };
})();
