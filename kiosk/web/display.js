// The guest's display at the till: shows what the till put up, polling once a second, so a
// screen that lost the hub for a moment simply catches up.
"use strict";

(() => {
  const words = {
    "zh-CN": { welcome: "欢迎光临", total: "合计", discount: "优惠", stored_value: "储值支付",
               due: "应付", points: "积分", earn: "本单可得", scan_to_pay: "扫码付款" },
    en: { welcome: "Welcome", total: "Total", discount: "Discount", stored_value: "From card",
          due: "To pay", points: "Points", earn: "this bill earns", scan_to_pay: "Scan to pay" },
  };
  const name = new URLSearchParams(location.search).get("name") || "till";
  const $ = (id) => document.getElementById(id);
  const yuan = (fen) => "¥" + (fen / 100).toFixed(2);
  let shownQr = null;

  function say(lang) {
    document.querySelectorAll("[data-d]").forEach((node) => {
      node.textContent = (words[lang] || words["zh-CN"])[node.dataset.d];
    });
  }

  function render(state) {
    $("store").textContent = state.store_name;
    $("idle").hidden = state.state !== "idle";
    $("bill").hidden = state.state === "idle";
    if (state.state === "idle") return;
    const bill = state.bill;
    const rows = bill.lines.map((line) => laoke.el("tr", {},
      laoke.el("td", {}, line.dish), laoke.el("td", {}, "x" + line.qty),
      laoke.el("td", { class: "money" }, yuan(line.qty * line.unit_price_fen))));
    $("lines").replaceChildren(...rows);
    $("total").textContent = yuan(bill.total_fen);
    $("discount").textContent = "-" + yuan(bill.discount_fen);
    $("stored-row").hidden = !bill.stored_value_paid_fen;
    $("stored").textContent = yuan(bill.stored_value_paid_fen);
    $("due").textContent = yuan(bill.due_fen - bill.stored_value_paid_fen);
    $("guest").hidden = !bill.guest;
    if (bill.guest) {
      $("guest-name").textContent = bill.guest.name;
      $("guest-tier").textContent = bill.guest.tier || "";
      $("points").textContent = bill.guest.points_balance;
      $("earn").textContent = bill.points_earned;
    }
    $("qr").hidden = !state.payment_qr;
    if (state.payment_qr && state.payment_qr !== shownQr) {
      shownQr = state.payment_qr;
      const image = laoke.el("img", { alt: "payment QR",
        src: "/api/v1/qr.svg?data=" + encodeURIComponent(state.payment_qr) });
      $("qr").querySelector("img")?.remove();
      $("qr").append(image);
    }
  }

  async function poll() {
    const answer = await laoke.api("GET", "/display?display=" + encodeURIComponent(name));
    $("offline").hidden = answer.status !== 0;
    if (answer.status === 200) render(answer.data);
    setTimeout(poll, 1000);
  }

  laoke.translate();
  say(document.documentElement.lang);
  poll();
})();
