// The till on the tablet: tables, seating (walk-ins and members), ordering from the menu in
// rounds that go to the kitchen, and paying at the table in one or several tenders. Big tiles,
// few steps.
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
      voucher: "团购券", stored_value: "储值", left_to_pay: "还需", amount: "金额（元）",
      confirm_pay: "确认收款", received: "实收", change: "找零", remove: "删除",
      not_amount: "请输入金额，如 52 或 52.50", too_much: "超过还需金额", over_balance: "储值余额不足",
      left: "剩{n}份", running_low: "快沽清",
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
      voucher: "Voucher", stored_value: "Stored value", left_to_pay: "Left to pay",
      amount: "Amount (yuan)", confirm_pay: "Confirm payment", received: "Received",
      change: "Change", remove: "Remove", not_amount: "Type an amount, e.g. 52 or 52.50",
      too_much: "More than is left to pay", over_balance: "More than the stored value",
      left: "{n} left", running_low: "running low",
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
  // The bill being paid: what is due, the tenders taken so far and the stored value used; what
  // is left is always due - stored - tenders, never read back from the screen.
  let paying = null;
  const METHODS = ["wechat", "alipay", "cash", "card", "voucher", "stored_value"];
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
    if (dish.available && dish.portions_left !== null) {
      tile.append(el("small", { class: dish.running_low ? "low" : "" }, portionsLeft(dish)));
    }
    if (dish.members_only) tile.append(el("small", { class: "vip" }, say("members_only")));
    tile.disabled = !dish.available;
    tile.onclick = () => (dish.set_groups ? pickSet(dish) : add(dish.code, []));
    return tile;
  }

  function portionsLeft(dish) {
    const left = say("left").replace("{n}", dish.portions_left);
    return dish.running_low ? `${left} ${say("running_low")}` : left;
  }

  function drawLowStock() {
    const low = menu.filter((dish) => dish.running_low);
    $("low-stock").hidden = !low.length;
    $("low-stock").textContent = `${say("running_low")}: ` +
      low.map((dish) => `${dish.name} ${say("left").replace("{n}", dish.portions_left)}`).join("、");
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
    drawLowStock();
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
    const fresh = await api("GET", "/menu");  // the round drew portions: the counts now
    if (fresh.status === 200) { menu = fresh.data.dishes; drawDishes(); drawLowStock(); }
  }

  async function checkout() {
    const quoted = await api("POST", "/display/bill", { display: tab.table_no, tab_id: tab.id });
    if (quoted.status !== 200) { fail(quoted); return; }
    payKey = payKey || `tablet-${tab.id}-${Date.now()}`;
    const guest = tab.member_id ? await api("GET", "/members/" + tab.member_id) : null;
    paying = { due: quoted.data.due_fen, tenders: [], stored: 0,
               balance: guest && guest.status === 200 ? guest.data.stored_value_fen || 0 : 0 };
    $("pay-table").textContent = tab.table_no;
    $("pay-due").textContent = yuan(paying.due);
    $("paid").hidden = true;
    show("pay");
    drawPay();
  }

  function leftToPay() {
    return paying.due - paying.stored - paying.tenders.reduce((sum, t) => sum + t.amount_fen, 0);
  }

  function drawPay() {
    const left = leftToPay();
    $("pay-left").textContent = yuan(left);
    $("tender-amount").value = left ? (left / 100).toFixed(2) : "";
    $("tenders").replaceChildren(...METHODS.filter((m) => m !== "stored_value" || paying.balance > paying.stored)
      .map((method) => {
        const button = el("button", { type: "button", class: "primary", "data-method": method },
                          say(method));
        button.disabled = !left;
        button.onclick = () => addTender(method);
        return button;
      }));
    const taken = [...paying.tenders];
    if (paying.stored) taken.unshift({ method: "stored_value", amount_fen: paying.stored });
    $("tender-list").replaceChildren(...taken.map((tender) => {
      const remove = el("button", { type: "button", "aria-label": say("remove") }, "✕");
      remove.onclick = () => {
        if (tender.method === "stored_value") paying.stored = 0;
        else paying.tenders.splice(paying.tenders.indexOf(tender), 1);
        drawPay();
      };
      const change = tender.received_fen
        ? ` · ${say("received")} ${yuan(tender.received_fen)} · ${say("change")} ${yuan(tender.received_fen - tender.amount_fen)}`
        : "";
      return el("li", { "data-tender": tender.method },
                `${say(tender.method)} ${yuan(tender.amount_fen)}${change}`, remove);
    }));
    $("pay-confirm").disabled = left !== 0;
  }

  function addTender(method) {
    // Yuan as typed (52, 52.5, 52.50); the amount left is the default, cash may be more.
    const typed = $("tender-amount").value.trim();
    if (!/^\d+(\.\d{1,2})?$/.test(typed) || Number(typed) === 0) {
      $("message").className = "error";
      $("message").textContent = say("not_amount");
      return;
    }
    const [whole, part = ""] = typed.split(".");
    const amount = Number(whole) * 100 + Number((part + "00").slice(0, 2));
    const left = leftToPay();
    $("message").textContent = "";
    if (method === "cash") {  // handed over: the change is what goes back
      paying.tenders.push(amount > left ? { method, amount_fen: left, received_fen: amount }
                                        : { method, amount_fen: amount });
    } else if (amount > left) {
      $("message").className = "error";
      $("message").textContent = say("too_much");
      return;
    } else if (method === "stored_value") {
      if (amount > paying.balance - paying.stored) {
        $("message").className = "error";
        $("message").textContent = say("over_balance");
        return;
      }
      paying.stored += amount;
    } else {
      paying.tenders.push({ method, amount_fen: amount });
    }
    drawPay();
  }

  async function pay() {
    const body = { tenders: paying.tenders.length ? paying.tenders : undefined,
                   stored_value_fen: paying.stored, print: true };
    const answer = await fetch(`/api/v1/tabs/${tab.id}/checkout`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Idempotency-Key": payKey,
                 ...(laoke.token() ? { Authorization: "Bearer " + laoke.token() } : {}) },
      body: JSON.stringify(body),
    }).then(async (response) => ({ status: response.status, data: await response.json() }))
      .catch(() => ({ status: 0, data: {} }));
    if (answer.status !== 200 && answer.status !== 201) { fail(answer); return; }
    api("DELETE", "/display/bill?display=" + encodeURIComponent(tab.table_no));
    $("tenders").replaceChildren();
    $("tender-list").querySelectorAll("button").forEach((button) => button.remove());
    $("pay-confirm").disabled = true;
    $("paid").hidden = false;
    // The tablet can be handed to the guest for a quick rating of this order: the link stays
    // on the floor plan until the next table is opened.
    $("rate-meal").href = "/feedback?back=/order&order=" + encodeURIComponent(answer.data.order_id);
    $("rate-meal").hidden = false;
    setTimeout(floor, 3000);  // long enough to read the change aloud
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
  $("pay-confirm").onclick = pay;
  $("back").onclick = floor;
  $("language").onclick = () => { laoke.toggleLanguage(); relabel(); if (!$("order").hidden) drawDishes(); };

  relabel();
  laoke.shiftBar($("shift"));
  floor();
})();
