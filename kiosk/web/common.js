// Shared by the tablet and the kiosk: the API with the device's credential, and the words.
"use strict";

const laoke = (() => {
  const tokenKey = "laoke.token";
  const langKey = "laoke.lang";

  function token() { return localStorage.getItem(tokenKey); }

  function setToken(value) {
    if (value) localStorage.setItem(tokenKey, value); else localStorage.removeItem(tokenKey);
  }

  // A paired browser holds a cookie (pairing link) or a token (pairing code); send the token
  // when there is one, the cookie goes along by itself.
  async function api(method, path, body) {
    const headers = { "Accept": "application/json" };
    if (token()) headers["Authorization"] = "Bearer " + token();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch("/api/v1" + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (error) {
      return { status: 0, data: { message: t("offline") } };
    }
    let data = {};
    try { data = await response.json(); } catch (error) { data = {}; }
    return { status: response.status, data };
  }

  function events(onEvent, onState) {
    const query = token() ? "?access_token=" + encodeURIComponent(token()) : "";
    const source = new EventSource("/api/v1/events" + query);
    source.onopen = () => onState(true);
    source.onerror = () => onState(false);  // EventSource reconnects with Last-Event-ID
    source.onmessage = (message) => onEvent(JSON.parse(message.data));
    return source;
  }

  const words = {
    "zh-CN": {
      offline: "与门店主机的连接中断，操作不会丢失：请稍后再试", online: "已连接",
      pair_title: "配对此设备", pair_code: "配对码（6位数字）", device_name: "设备名称",
      pair: "配对", search: "手机号 / 尾号 / 姓名 / 卡号 / 扫码", find: "查找",
      no_result: "没有找到会员", table: "桌号", party: "人数", checkin: "入座",
      checked_in: "已入座", allergies: "过敏", taste: "口味", notes: "备注",
      birthday_today: "今天生日！", last_visit: "上次到店", favourites: "常点",
      coupons: "可用券", tier: "等级", none: "无", feed: "实时动态",
      at_table: "入座", walk_in: "散客", card_read: "刷卡",
      kiosk_title: "欢迎加入会员", phone: "手机号", name: "姓名", birthday: "生日",
      allergy_hint: "过敏食物（可多个，用逗号分隔）", notes_hint: "口味偏好（如：微辣，不要香菜）",
      privacy: "隐私说明", consent: "我愿意接收优惠和活动信息（可随时退订）", join: "加入会员",
      welcome: "欢迎加入！", welcome_back: "欢迎回来！这个手机号已经是会员了。",
      show_qr: "到店出示此二维码即可识别会员", done: "完成", language: "English",
      version: "说明版本", scan: "扫码", seat: "座位偏好",
      rate_title: "本次用餐感觉如何？", rating: "评分", rate_tags: "哪些方面？", tag_taste: "口味",
      tag_service: "服务", tag_speed: "上菜速度", tag_ambience: "环境",
      comment: "想对我们说的话（选填）", send_rating: "提交评价", rate_thanks: "谢谢您的评价！",
      staff_pin: "员工密码", sign_in: "上班签到", sign_out: "下班签退", switch_staff: "换人",
      on_shift: "当班", nobody_on_shift: "未签到：请输入员工密码", rate_meal: "请客人评价",
      invited_by: "邀请您的服务员（选填）", nobody: "—",
      referrer_phone: "邀请您的朋友的手机号（选填）", tiers_title: "会员等级与权益",
      channels: "常来方式", recent_delivery: "最近外卖", dine_in: "堂食", takeaway: "外带",
      delivery: "外卖", meituan: "美团外卖", eleme: "饿了么",
      follow_hint: "用微信扫一扫，关注本店公众号，会员优惠第一时间送达",
      member_scan: "已是会员？扫描您的会员码，关注本店公众号", follow: "关注公众号",
      follow_title: "关注本店公众号", qr_invalid: "这个会员码无效",
      wechat_down: "暂时连不上微信，请稍后再试",
    },
    en: {
      offline: "Lost the hub: nothing was sent; try again in a moment", online: "Connected",
      pair_title: "Pair this device", pair_code: "Pairing code (6 digits)",
      device_name: "Device name", pair: "Pair", search: "Phone / last digits / name / card / scan",
      find: "Find", no_result: "No member found", table: "Table", party: "Guests",
      checkin: "Check in", checked_in: "Checked in", allergies: "Allergies", taste: "Taste",
      notes: "Notes", birthday_today: "Birthday today!", last_visit: "Last visit",
      favourites: "Favourites", coupons: "Coupons", tier: "Tier", none: "none",
      feed: "Live", at_table: "seated at", walk_in: "walk-in", card_read: "Card read",
      kiosk_title: "Join our members", phone: "Mobile number", name: "Name",
      birthday: "Birthday", allergy_hint: "Food allergies (comma separated)",
      notes_hint: "Taste (e.g. mild, no coriander)", privacy: "Privacy notice",
      consent: "Send me offers and news (unsubscribe any time)", join: "Join",
      welcome: "Welcome!", welcome_back: "Welcome back! This number is already a member.",
      show_qr: "Show this code when you visit", done: "Done", language: "中文",
      version: "notice version", scan: "Scan", seat: "Seat",
      rate_title: "How was your meal?", rating: "Rating", rate_tags: "What stood out?",
      tag_taste: "Taste", tag_service: "Service", tag_speed: "Speed", tag_ambience: "Ambience",
      comment: "Anything to tell us (optional)", send_rating: "Send", rate_thanks: "Thank you!",
      staff_pin: "Staff PIN", sign_in: "Sign in", sign_out: "Sign out", switch_staff: "Switch",
      on_shift: "On shift", nobody_on_shift: "Nobody signed in: enter your staff PIN",
      rate_meal: "Let the guest rate", invited_by: "Who of our staff invited you? (optional)",
      nobody: "—", referrer_phone: "The phone of the friend who invited you (optional)",
      tiers_title: "Member tiers and what they give",
      channels: "How they come", recent_delivery: "Recent deliveries", dine_in: "Dine-in",
      takeaway: "Takeaway", delivery: "Delivery", meituan: "Meituan", eleme: "Ele.me",
      follow_hint: "Scan with WeChat to follow us: member offers reach you first",
      member_scan: "Already a member? Scan your member code to follow us on WeChat",
      follow: "Follow on WeChat", follow_title: "Follow us on WeChat",
      qr_invalid: "This member code is not valid",
      wechat_down: "WeChat cannot be reached just now; try again later",
    },
  };

  function lang() { return localStorage.getItem(langKey) || document.documentElement.lang; }

  function t(key) { return (words[lang()] || words["zh-CN"])[key] || key; }

  function translate(root) {
    document.documentElement.lang = lang();
    (root || document).querySelectorAll("[data-t]").forEach((node) => {
      node.textContent = t(node.dataset.t);
    });
    (root || document).querySelectorAll("[data-t-placeholder]").forEach((node) => {
      node.placeholder = t(node.dataset.tPlaceholder);
    });
  }

  function toggleLanguage() {
    localStorage.setItem(langKey, lang() === "en" ? "zh-CN" : "en");
    translate();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => node.setAttribute(key, value));
    children.forEach((child) => node.append(child));
    return node;
  }

  // Who works on this device: the person of its open shift, a PIN field to sign in, and
  // "switch" (another person's PIN ends the shift open here) and "sign out". Each page that
  // attributes work (tablet, till) has one in its header.
  async function shiftBar(node) {
    let shift = null;
    let asking = false;
    const input = el("input", { id: "shift-pin", name: "pin", type: "password",
                                inputmode: "numeric", autocomplete: "off", maxlength: "8",
                                "aria-label": t("staff_pin"), placeholder: t("staff_pin") });
    const error = el("span", { id: "shift-error", class: "error", role: "alert" });
    function draw() {
      node.replaceChildren();
      if (shift && !asking) {
        const change = el("button", { type: "button", id: "shift-switch" }, t("switch_staff"));
        const out = el("button", { type: "button", id: "shift-out" }, t("sign_out"));
        change.onclick = () => { asking = true; draw(); input.focus(); };
        out.onclick = async () => {
          await api("DELETE", "/shifts/" + encodeURIComponent(shift.id));
          shift = null;
          draw();
        };
        node.append(el("span", { id: "shift-who" }, `${t("on_shift")}: ${shift.staff.name}`),
                    change, out);
        return;
      }
      const form = el("form", { id: "shift-form", class: "row" }, input,
                      el("button", { type: "submit", class: "primary" }, t("sign_in")), error);
      form.onsubmit = async (submit) => {
        submit.preventDefault();
        const answer = await api("POST", "/shifts", { pin: input.value.trim() });
        input.value = "";
        if (answer.status !== 201) { error.textContent = answer.data.message || ""; return; }
        error.textContent = "";
        shift = answer.data;
        asking = false;
        draw();
      };
      if (!shift) node.append(el("span", { class: "muted" }, t("nobody_on_shift")));
      node.append(form);
    }
    const current = await api("GET", "/shifts/current");
    if (current.status !== 200) return;  // a device that cannot sign staff in shows nothing
    shift = current.data.shift;
    draw();
  }

  return { api, events, t, translate, toggleLanguage, token, setToken, el, shiftBar };
})();
