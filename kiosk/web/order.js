// The till on the tablet: tables, seating (walk-ins and members), ordering from the menu in
// rounds that go to the kitchen, and paying at the table. Big tiles, few steps.
"use strict";

(() => {
  const { api, el, translate } = laoke;
  const $ = (id) => document.getElementById(id);
  const words = {
    "zh-CN": {
      title: "点餐", tables: "桌台", seat_at: "入座", how_many: "几位？", member_phone: "会员手机号",
      find_member: "查会员", seat_walk_in: "散客入座", seat_member: "会员入座", dish_search:
      "菜名或拼音首字母（如 gbjd）", new_items: "待下单", send: "送厨房", sent_items: "已下单",
      checkout: "结账", due: "应付", paid: "已结账，谢谢！", all: "全部", sold_out: "售罄",
      free: "空闲", people: "人", member_price: "会员价", allergies: "过敏", seat: "座位偏好",
      notes: "备注", walk_in: "散客", cash: "现金", wechat: "微信", alipay: "支付宝",
      card: "银行卡", sent: "已送厨房", members_only: "会员专享", cancel: "取消", choose: "选",
    },
    en: {
      title: "Order", tables: "Tables", seat_at: "Seat at", how_many: "How many guests?",
      member_phone: "Member's phone", find_member: "Find member", seat_walk_in: "Seat walk-in",
      seat_member: "Seat member", dish_search: "Dish name or pinyin initials (e.g. gbjd)",
      new_items: "To order", send: "Send to kitchen", sent_items: "Ordered",
      checkout: "Check out", due: "To pay", paid: "Paid, thank you!", all: "All",
      sold_out: "Sold out", free: "free", people: "guests", member_price: "member",
      allergies: "Allergies", seat: "Seat", notes: "Notes", walk_in: "walk-in", cash: "Cash",
      wechat: "WeChat", alipay: "Alipay", card: "Card", sent: "Sent to the kitchen",
      members_only: "members only", cancel: "Cancel", choose: "choose",
    },
  };
  const say = (key) => (words[document.documentElement.lang] || words["zh-CN"])[key] || key;
  const yuan = (fen) => "¥" + (fen / 100).toFixed(2);
  let menu = [];
  let category = null;
  let seating = { table: null, party: 2, member: null };
  let tab = null;
  let pending = [];  // {code, qty, choices} not yet sent; a set meal carries its choices
  let picking = null;  // the set meal being chosen: {dish, picked: [[codes] per group]}
  let payKey = null;  // one idempotency key per bill, kept across retries
  let seated = null;  // the member at this table, as the tablet may see them

  function show(id) {
    ["floor", "seat", "order", "pay"].forEach((name) => { $(name).hidden = name !== id; });
    if (id !== "floor" && id !== "pay") $("rate-meal").hidden = true;
    $("back").hidden = id === "floor";
    $("message").textContent = "";
  }

  function fail(answer) {
    $("message").className = "error";
    $("message").textContent = answer.status === 0 ? laoke.t("offline") : answer.data.message;
  }

  function relabel() {
    translate();
    document.querySelectorAll("[data-o]").forEach((node) => { node.textContent = say(node.dataset.o); });
    document.querySelectorAll("[data-o-placeholder]").forEach((node) => {
      node.placeholder = say(node.dataset.oPlaceholder);
    });
  }

  async function floor() {
    const answer = await api("GET", "/tables");
    if (answer.status !== 200) { fail(answer); return; }
    $("tables").replaceChildren(...answer.data.tables.map((table) => {
      const tile = el("button", { type: "button", class: "tile " + (table.tab_id ? "taken" : "free"),
                                  "data-table": table.name },
        table.name, el("small", {}, table.tab_id ? `${table.party_size}${say("people")}`
                                                 : `${say("free")} · ${table.seats}${say("people")}`));
      tile.onclick = () => (table.tab_id ? openTab(table.tab_id) : seat(table.name));
      return tile;
    }));
    show("floor");
  }

  function guestCard(member) {
    const card = el("div", {});
    card.append(el("p", { class: member.vip ? "vip" : "" },
      `${member.vip ? "VIP " : ""}${member.name || "-"} · ${member.tier_name || ""}`));
    if ((member.allergies || []).length) {
      card.append(el("p", { class: "allergy" }, `${say("allergies")}: ${member.allergies.join("、")}`));
    }
    if (member.seat_preference) card.append(el("p", {}, `${say("seat")}: ${member.seat_preference}`));
    if (member.notes) card.append(el("p", {}, `${say("notes")}: ${member.notes}`));
    return card;
  }

  function seat(table) {
    seating = { table, party: 2, member: null };
    $("seat-table").textContent = table;
    $("guest-card").hidden = true;
    $("seat-member").hidden = true;
    $("member-phone").value = "";
    $("parties").replaceChildren(...[1, 2, 3, 4, 5, 6, 7, 8, 10, 12].map((n) => {
      const button = el("button", { type: "button", "aria-pressed": String(n === 2) }, String(n));
      button.onclick = () => {
        seating.party = n;
        $("parties").querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      };
      return button;
    }));
    show("seat");
  }

  async function seatParty(memberId) {
    const answer = await api("POST", "/tabs", { table: seating.table, party_size: seating.party,
                                               member_id: memberId || undefined });
    if (answer.status !== 201) { fail(answer); return; }
    openTab(answer.data.id, answer.data.member);
  }

  function dishTile(dish) {
    const price = dish.member_price_fen !== null && tab && tab.member_id
      ? `${yuan(dish.member_price_fen)} ${say("member_price")}` : yuan(dish.price_fen);
    const tile = el("button", { type: "button", class: "tile" + (dish.available ? "" : " sold-out"),
                                "data-code": dish.code },
      dish.name, el("small", {}, dish.available ? price : say("sold_out")));
    if (dish.members_only) tile.append(el("small", { class: "vip" }, say("members_only")));
    tile.disabled = !dish.available;
    tile.onclick = () => (dish.set_groups ? pickSet(dish) : add(dish.code, []));
    return tile;
  }

  function add(code, choices) {
    const same = !choices.length && pending.find((entry) => entry.code === code && !entry.choices.length);
    if (same) same.qty += 1; else pending.push({ code, qty: 1, choices });
    drawPending();
  }

  function pickSet(dish) {
    picking = { dish, picked: dish.set_groups.map(() => []) };
    drawSet();
  }

  function drawSet() {
    const byCode = new Map(menu.map((dish) => [dish.code, dish]));
    $("set-picker").hidden = !picking;
    if (!picking) return;
    $("set-title").textContent = picking.dish.name;
    $("set-groups").replaceChildren(...picking.dish.set_groups.map((group, index) => {
      const chosen = picking.picked[index];
      const row = el("p", { class: "row" },
        `${group.name || ""} (${say("choose")} ${group.choose}: ${chosen.map((c) => byCode.get(c).name).join("、")})`);
      group.codes.forEach((code) => {
        const button = el("button", { type: "button", "data-choice": code }, byCode.get(code).name);
        button.disabled = chosen.length >= group.choose || !byCode.get(code).available;
        button.onclick = () => { chosen.push(code); finishSet(); };
        row.append(button);
      });
      return row;
    }));
  }

  function finishSet() {
    const groups = picking.dish.set_groups;
    if (groups.every((group, index) => picking.picked[index].length === group.choose)) {
      add(picking.dish.code, picking.picked.flat());
      picking = null;
    }
    drawSet();
  }

  function drawDishes() {
    const query = $("dish-search").value.trim().toLowerCase();
    const shown = menu.filter((dish) => (query
      ? dish.name.includes(query) || dish.initials.startsWith(query) || dish.code.toLowerCase() === query
      : !category || dish.category === category));
    $("dishes").replaceChildren(...shown.map(dishTile));
  }

  function drawCategories() {
    const names = [...new Set(menu.map((dish) => dish.category))];
    $("categories").replaceChildren(...[null, ...names].map((name) => {
      const button = el("button", { type: "button", "aria-pressed": String(name === category) },
                        name || say("all"));
      button.onclick = () => { category = name; $("dish-search").value = ""; drawCategories(); drawDishes(); };
      return button;
    }));
  }

  function drawPending() {
    const byCode = new Map(menu.map((dish) => [dish.code, dish]));
    $("new-items").replaceChildren(...pending.map((entry) => {
      const less = el("button", { type: "button", "aria-label": "less" }, "−");
      const more = el("button", { type: "button", "aria-label": "more" }, "+");
      less.onclick = () => {
        entry.qty -= 1;
        if (!entry.qty) pending.splice(pending.indexOf(entry), 1);
        drawPending();
      };
      more.onclick = () => { entry.qty += 1; drawPending(); };
      more.hidden = entry.choices.length > 0;  // another set is chosen anew
      const name = byCode.get(entry.code).name + (entry.choices.length
        ? `（${entry.choices.map((c) => byCode.get(c).name).join("、")}）` : "");
      return el("li", { "data-code": entry.code }, name,
                el("span", { class: "qty" }, less, ` x${entry.qty} `, more));
    }));
    $("send").disabled = pending.length === 0;
  }

  function drawTab() {
    $("order-title").textContent = `${tab.table_no} · ${tab.party_size}${say("people")}`;
    $("order-guest").replaceChildren(seated ? guestCard(seated)
                                            : el("p", { class: "muted" }, say("walk_in")));
    $("sent-items").replaceChildren(...tab.items.map((item) =>
      el("li", {}, item.dish, el("span", {}, `x${item.qty} ${item.sent ? "✓" : ""}`))));
  }

  async function openTab(tabId, member) {
    const [tabAnswer, menuAnswer] = await Promise.all([api("GET", "/tabs/" + tabId), api("GET", "/menu")]);
    if (tabAnswer.status !== 200) { fail(tabAnswer); return; }
    if (menuAnswer.status !== 200) { fail(menuAnswer); return; }
    tab = tabAnswer.data;
    menu = menuAnswer.data.dishes;
    pending = [];
    picking = null;
    payKey = null;
    if (member === undefined && tab.member_id) {
      const found = await api("GET", "/members/" + tab.member_id);
      member = found.status === 200 ? found.data : null;
    }
    seated = member || null;
    show("order");
    drawTab();
    drawCategories();
    drawDishes();
    drawPending();
  }

  async function send() {
    const lines = pending.map((entry) => (entry.choices.length
      ? { code: entry.code, qty: entry.qty, choices: entry.choices } : { code: entry.code, qty: entry.qty }));
    const answer = await api("POST", `/tabs/${tab.id}/items`, { lines, send: true });
    if (answer.status !== 200) { fail(answer); return; }
    tab = answer.data;
    pending = [];
    drawPending();
    drawTab();
    $("message").className = "ok";
    $("message").textContent = say("sent");
  }

  async function checkout() {
    const quoted = await api("POST", "/display/bill", { display: tab.table_no, tab_id: tab.id });
    if (quoted.status !== 200) { fail(quoted); return; }
    const due = quoted.data.due_fen;
    payKey = payKey || `tablet-${tab.id}-${Date.now()}`;
    $("pay-table").textContent = tab.table_no;
    $("pay-due").textContent = yuan(due);
    $("paid").hidden = true;
    $("tenders").replaceChildren(...["wechat", "alipay", "cash", "card"].map((method) => {
      const button = el("button", { type: "button", class: "primary", "data-method": method }, say(method));
      button.onclick = () => pay(method, due);
      return button;
    }));
    show("pay");
  }

  async function pay(method, due) {
    const answer = await fetch(`/api/v1/tabs/${tab.id}/checkout`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Idempotency-Key": payKey,
                 ...(laoke.token() ? { Authorization: "Bearer " + laoke.token() } : {}) },
      body: JSON.stringify({ tenders: due ? [{ method, amount_fen: due }] : undefined }),
    }).then(async (response) => ({ status: response.status, data: await response.json() }))
      .catch(() => ({ status: 0, data: {} }));
    if (answer.status !== 200 && answer.status !== 201) { fail(answer); return; }
    api("DELETE", "/display/bill?display=" + encodeURIComponent(tab.table_no));
    $("tenders").replaceChildren();
    $("paid").hidden = false;
    // The tablet can be handed to the guest for a quick rating of this order: the link stays
    // on the floor plan until the next table is opened.
    $("rate-meal").href = "/feedback?back=/order&order=" + encodeURIComponent(answer.data.order_id);
    $("rate-meal").hidden = false;
    setTimeout(floor, 1500);
  }

  $("member-form").onsubmit = async (submit) => {
    submit.preventDefault();
    const phone = $("member-phone").value.trim();
    if (!phone) return;
    const answer = await api("GET", "/members/lookup?phone=" + encodeURIComponent(phone));
    if (answer.status !== 200) { fail(answer); return; }
    seating.member = answer.data;
    $("guest-card").replaceChildren(guestCard(answer.data));
    $("guest-card").hidden = false;
    $("seat-member").hidden = false;
  };
  $("seat-walk-in").onclick = () => seatParty(null);
  $("seat-member").onclick = () => seatParty(seating.member && seating.member.id);
  $("dish-search").oninput = drawDishes;
  $("set-cancel").onclick = () => { picking = null; drawSet(); };
  $("send").onclick = send;
  $("checkout").onclick = checkout;
  $("back").onclick = floor;
  $("language").onclick = () => { laoke.toggleLanguage(); relabel(); if (!$("order").hidden) drawDishes(); };

  relabel();
  laoke.shiftBar($("shift"));
  floor();
})();
