// The waiter tablet: find a guest, see what matters about them, seat them; live events.
"use strict";

(() => {
  const { api, events, t, translate, el } = laoke;
  const $ = (id) => document.getElementById(id);
  let guest = null;
  let deliveries = { id: null, orders: [] };  // the guest's last platform orders, by guest id

  function describe(member) {
    const bits = [member.spice_label, ...(member.avoid || []).map((x) => "不放" + x),
                  member.notes].filter(Boolean);
    return bits.join("，");
  }

  function showGuest(member) {
    guest = member;
    const card = $("guest");
    card.replaceChildren();
    card.append(el("h2", { class: member.vip ? "vip" : "" },
                   `${member.vip ? "VIP " : ""}${member.name || "-"} · ${member.tier_name}`));
    card.append(el("p", { class: "muted", id: "guest-phone" }, member.phone || ""));
    if (member.allergies.length) {
      card.append(el("p", { class: "allergy", id: "guest-allergies" },
                     `${t("allergies")}: ${member.allergies.join("、")}`));
    }
    card.append(el("p", {}, `${t("taste")}: ${describe(member) || t("none")}`));
    if (member.seat_preference) {
      card.append(el("p", { id: "guest-seat" }, `${t("seat")}: ${member.seat_preference}`));
    }
    if (member.birthday_today) card.append(el("p", { class: "big" }, "🎂 " + t("birthday_today")));
    card.append(el("p", { class: "muted" },
      `${t("last_visit")}: ${(member.last_visit_at || "-").slice(0, 10)} · ` +
      `${t("favourites")}: ${member.favourite_dishes.map((d) => d.dish).join("、") || t("none")}`));
    if ((member.channel_mix || []).some((c) => c.channel === "delivery")) {
      card.append(el("p", { id: "guest-channels" }, `${t("channels")}: ` + member.channel_mix
        .map((c) => `${t(c.platform || c.channel)} ${c.orders}`).join(" · ")));
    }
    if (deliveries.id === member.id && deliveries.orders.length) {
      card.append(el("p", { id: "guest-delivery", class: "muted" }, `${t("recent_delivery")}: ` +
        deliveries.orders.map((o) => `${o.created_at.slice(5, 10)} ${t(o.platform)} ` +
          `${o.lines.map((l) => `${l.dish}×${l.qty}`).join("、")} ` +
          `¥${((o.total_fen - o.discount_fen) / 100).toFixed(2)}`).join("；")));
    }
    if (member.usable_coupons.length) {
      card.append(el("p", {}, `${t("coupons")}: ` +
        member.usable_coupons.map((c) => c.name).join("、")));
    }
    card.hidden = false;
    $("checkin-form").hidden = false;
    $("table").focus();
  }

  async function lookup(query) {
    $("lookup-error").textContent = "";
    $("results").replaceChildren();
    const path = query.startsWith("LKM1.")
      ? "/members/lookup?qr=" + encodeURIComponent(query)
      : "/members/search?q=" + encodeURIComponent(query) + "&limit=10";
    const { status, data } = await api("GET", path);
    if (status !== 200) { $("lookup-error").textContent = data.message || t("no_result"); return; }
    const found = data.members || [data];
    if (!found.length) { $("lookup-error").textContent = t("no_result"); return; }
    if (found.length === 1) { openGuest(found[0].id); return; }
    found.forEach((member) => {
      const item = el("li", {}, el("button", { type: "button", "data-id": member.id },
        `${member.name || "-"} ${member.phone || ""} · ${member.tier_name}`));
      item.querySelector("button").onclick = () => openGuest(member.id);
      $("results").append(item);
    });
  }

  async function openGuest(id) {
    const { status, data } = await api("GET", "/members/" + encodeURIComponent(id));
    if (status !== 200) { $("lookup-error").textContent = data.message; return; }
    $("results").replaceChildren();
    showGuest(data);
    // Their last orders from the delivery platforms (claimed, or of a platform user joined
    // to them): what they like when they eat at home, for the waiter at the table.
    const history = await api("GET", "/members/" + encodeURIComponent(id) + "/visits?limit=20");
    if (history.status !== 200 || !guest || guest.id !== id) return;
    deliveries = { id, orders: history.data.orders
      .filter((o) => o.platform && o.state === "placed").slice(0, 3) };
    if (deliveries.orders.length) showGuest(guest);
  }

  function feed(text) {
    const item = el("li", {}, `${new Date().toLocaleTimeString()} ${text}`);
    $("feed").prepend(item);
    while ($("feed").children.length > 30) $("feed").lastChild.remove();
  }

  function onEvent(event) {
    const data = event.data;
    if (event.type === "checkin.created") {
      const m = data.member;
      const who = m ? `${m.name}：${[describe(m), ...m.allergies.map((a) => a + "过敏")]
        .filter(Boolean).join("，")}` : t("walk_in");
      feed(`${t("at_table")} ${data.table} · ${who}`);
      (data.staff_notes || []).forEach((note) => feed(`📣 ${note}`));
    } else if (event.type === "card.read") {
      feed(`${t("card_read")} @ ${data.station}: ${data.member ? data.member.name : data.message}`);
      if (data.member) openGuest(data.member.id);
    }
  }

  function setOnline(online) {
    $("offline").hidden = online;
    $("link-state").textContent = online ? t("online") : "";
  }

  async function start() {
    translate();
    $("language").onclick = () => { laoke.toggleLanguage(); if (guest) showGuest(guest); };
    // Paired or not: a lookup with no key answers 401 unpaired, 422 otherwise, and costs
    // nothing against the tablet's search limits.
    const probe = await api("GET", "/members/lookup");
    if (probe.status === 401) { $("pairing").hidden = false; return; }
    $("work").hidden = false;
    laoke.shiftBar($("shift"));
    events(onEvent, setOnline);
    $("q").focus();
  }

  $("pair-form").onsubmit = async (submit) => {
    submit.preventDefault();
    const { status, data } = await api("POST", "/pair",
      { code: $("pair-code").value.trim(), name: $("pair-name").value.trim() || undefined });
    if (status !== 201) { $("pair-error").textContent = data.message; return; }
    laoke.setToken(data.token);
    $("pairing").hidden = true;
    start();
  };

  // The camera reads a guest's member QR where the browser can (BarcodeDetector); a USB or
  // Bluetooth scanner types into the search field instead and works everywhere.
  async function scan() {
    const video = $("camera");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (error) {
      $("lookup-error").textContent = error.message;
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    const stop = () => { stream.getTracks().forEach((track) => track.stop()); video.hidden = true; };
    const started = Date.now();
    while (Date.now() - started < 20000) {
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length) { stop(); lookup(codes[0].rawValue); return; }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    stop();
  }

  if ("BarcodeDetector" in window && navigator.mediaDevices) {
    $("scan").hidden = false;
    $("scan").onclick = scan;
  }

  $("lookup").onsubmit = (submit) => {
    submit.preventDefault();
    const query = $("q").value.trim();
    if (query) lookup(query);
  };

  $("checkin-form").onsubmit = async (submit) => {
    submit.preventDefault();
    if (!guest) return;
    const { status, data } = await api("POST", "/checkins", {
      member_id: guest.id, table: $("table").value.trim(),
      party_size: Number($("party").value) || 1,
    });
    if (status === 201) {
      $("checkin-form").hidden = true;
      // What a campaign asked the waiter to say, shown once, on this tablet only.
      (data.visit.staff_notes || []).forEach((note) => {
        $("guest").append(el("p", { class: "big campaign-note" }, "📣 " + note));
      });
      $("q").value = "";
      $("q").focus();
    } else {
      $("lookup-error").textContent = status === 0 ? t("offline") : data.message;
    }
  };

  start();
})();
