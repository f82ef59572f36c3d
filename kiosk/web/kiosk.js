// The signup kiosk by the door: a guest joins in under a minute, and the next guest never
// sees the previous one's data (the form clears itself after a short idle time).
"use strict";

(() => {
  const { api, t, translate, el } = laoke;
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const idleSeconds = Number(params.get("idle")) || 60;
  let idleTimer = null;

  // Who is on shift now, for "which of our staff invited you?" (names only).
  async function staffOnDuty() {
    const { status, data } = await api("GET", "/shifts/on-duty");
    const select = $("invited_by");
    select.replaceChildren(select.options[0]);
    if (status === 200) data.staff.forEach((person) => select.append(el("option", { value: person.id }, person.name)));
    $("invited-row").hidden = select.options.length < 2;
  }

  // The welcome offer and the tiers, before the form: what a guest gets for joining. The hub
  // words them in both languages; the page shows the one on screen.
  let offers = null;
  function showOffers() {
    if (!offers) return;
    const lang = document.documentElement.lang === "en" ? "en" : "zh";
    const headline = $("welcome-offer");
    headline.hidden = !offers.welcome;
    headline.textContent = offers.welcome ? offers.welcome.headline[lang] : "";
    $("tiers").replaceChildren(...offers.tiers.map((tier) => el("li", { "data-tier": tier.code },
      el("b", {}, tier.name[lang]), " — " + tier.perks[lang])));
    $("offers").hidden = false;
    $("member-scan").hidden = !offers.wechat;
  }

  async function loadOffers() {
    const { status, data } = await api("GET", "/signup/offers");
    if (status === 200) { offers = data; showOffers(); }
  }

  function reset() {
    $("signup").reset();  // the consent box goes back to unticked
    loadOffers();
    staffOnDuty();
    $("error").textContent = "";
    $("qr").replaceChildren();
    $("follow-qr").replaceChildren();
    $("follow").hidden = true;
    $("member-scan").reset();
    $("scan-error").textContent = "";
    $("done").hidden = true;
    $("signup").hidden = false;
    $("member-scan").hidden = !(offers && offers.wechat);
  }

  function touched() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(reset, idleSeconds * 1000);
  }

  function qrImage(id, data) {
    return el("img", { alt: "QR", id,
      src: "/api/v1/qr.svg?data=" + encodeURIComponent(data) +
           (laoke.token() ? "&access_token=" + encodeURIComponent(laoke.token()) : "") });
  }

  // The store's WeChat account, for the guest this member QR names: scanning the follow QR
  // with WeChat follows the account and links them, so offers can reach them there.
  async function followQr(memberQr) {
    if (!offers || !offers.wechat) return 0;
    const { status, data } = await api("POST", "/wechat/follow-qr", { member_qr: memberQr });
    if (status === 200) {
      $("follow-qr").replaceChildren(qrImage("wechat-qr", data.url));
      $("follow").hidden = false;
    }
    return status;
  }

  function finish(title, qrPayload) {
    $("signup").hidden = true;
    $("member-scan").hidden = true;
    $("done").hidden = false;
    $("done-title").textContent = title;
    $("qr").replaceChildren();
    $("qr-hint").hidden = !qrPayload;
    if (qrPayload) $("qr").append(qrImage("member-qr", qrPayload));
    touched();
  }

  // A member's QR from a scanner (it types the code and Enter) or typed in.
  $("member-scan").onsubmit = async (submit) => {
    submit.preventDefault();
    touched();
    const status = await followQr(String($("member_qr").value).trim());
    if (status === 200) finish(t("follow_title"), null);
    else $("scan-error").textContent = status === 0 ? t("offline") :
      [404, 422].includes(status) ? t("qr_invalid") : t("wechat_down");
  };

  $("signup").onsubmit = async (submit) => {
    submit.preventDefault();
    touched();
    const form = new FormData($("signup"));
    const allergies = String(form.get("allergies") || "").split(/[,，、]/)
      .map((s) => s.trim()).filter(Boolean);
    const body = {
      phone: String(form.get("phone")).trim(), name: String(form.get("name")).trim(),
      birthday: form.get("birthday") || null, notes: String(form.get("notes") || "").trim(),
      allergies, marketing_consent: $("marketing_consent").checked,
      invited_by: form.get("invited_by") || undefined,
      referrer_phone: String(form.get("referrer_phone") || "").trim() || undefined,
    };
    const { status, data } = await api("POST", "/members", body);
    if (status === 201) { finish(`${t("welcome")} ${data.name}`, data.qr); followQr(data.qr); }
    else if (status === 409) finish(t("welcome_back"), null);
    else $("error").textContent = status === 0 ? t("offline") : data.message;
  };

  $("finish").onclick = reset;
  $("language").onclick = () => { laoke.toggleLanguage(); showOffers(); };
  ["input", "pointerdown", "keydown"].forEach((kind) =>
    document.addEventListener(kind, touched, { passive: true }));

  (async () => {
    translate();
    const { data } = await api("GET", "/health");
    $("consent-version").textContent = data.consent_version || "";
    reset();
    touched();
  })();
})();
