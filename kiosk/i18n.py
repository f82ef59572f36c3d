"""The console's words in zh-CN and English; the default follows the locale."""

from __future__ import annotations

import os

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "老客 laoke", "dashboard": "看板", "members": "会员", "checkout": "结账",
        "lists": "名单", "devices": "设备", "search": "搜索 手机号/尾号/姓名/卡号 (/)",
        "covers": "客数", "revenue": "营收", "orders": "订单", "returning": "回头客",
        "new_members": "新会员", "vs_last_week": "较上周同日", "checked_in": "正在用餐",
        "time": "时间", "table": "桌号", "guest": "客人", "allergies": "过敏",
        "notes": "口味备注", "walk_in": "散客", "hub": "门店主机", "backlog": "待同步",
        "hq": "总部", "offline": "未连接", "online": "在线", "printers": "打印机",
        "readers": "读卡器", "queue": "待打印", "name": "姓名", "phone": "手机",
        "tier": "等级", "points": "积分", "stored_value": "储值", "birthday": "生日",
        "seat": "座位偏好", "tags": "标签", "vip": "VIP", "save": "保存", "top_up": "充值",
        "amount_yuan": "金额(元)", "bonus_yuan": "赠送(元)", "card": "卡号", "link": "绑卡",
        "block": "挂失", "send_coupon": "发券", "no_member": "未选择会员",
        "lines_hint": "每行一道菜：菜品编号 数量（按菜单定价），或 菜名 数量 单价(元)",
        "party_size": "人数（堂食）", "redeem_points": "使用积分",
        "coupon_code": "优惠券码", "pay_stored_value": "储值支付(元)", "charge": "结账并打印",
        "receipt_preview": "小票预览", "lapsed": "流失客人", "birthdays": "近期生日",
        "days": "天数", "load": "查询", "template": "优惠券模板", "role": "角色",
        "pair": "生成配对码", "revoke": "吊销", "test_page": "测试页", "last_seen": "最后在线",
        "state": "状态", "saved": "已保存", "sent": "已发送", "topped_up": "已充值",
        "linked": "已绑卡", "blocked": "已挂失", "pairing_code": "配对码",
        "link_lost": "与门店主机的连接中断，正在重连…", "link_back": "已重新连接门店主机",
        "printed": "小票已送打印", "favourites": "常点", "coupons": "可用券",
        "last_visit": "上次到店", "ledger": "流水", "spice": "辣度", "avoid": "忌口",
        "language": "English", "none": "无", "card_read": "刷卡", "unknown_card": "未知卡",
        "visits": "到店", "campaigns": "营销活动", "kind": "类型", "schedule": "计划",
        "last_run": "上次运行", "switch": "开/关", "run_now": "立即运行", "results": "效果",
        "rules": '人群规则 JSON，如 {"lapsed_days": 60, "tiers": ["gold"]}',
        "preview": "预估人数", "audience": "目标人数", "treated": "触达组", "control": "对照组",
        "guests": "人数", "returned": "回店", "redeemed": "用券", "spend": "消费",
        "messages": "消息", "lift": "提升", "on": "开", "off": "关", "reports": "报表",
        "menu": "菜单", "code": "编号", "category": "分类", "price": "价格", "dish": "菜品",
        "member_price": "会员价", "new_price": "新价格(元)",
        "set_price": "改价", "sold_out_today": "今日售罄/恢复", "sold_out": "售罄",
        "on_menu": "在售",
        "from": "开始 YYYY-MM-DD", "to": "结束 YYYY-MM-DD", "export": "导出 XLSX+PNG",
        "exported": "已导出", "campaign_json": "活动设置 JSON（人群、优惠、文案、渠道、计划）",
    },
    "en": {
        "title": "laoke 老客", "dashboard": "Dashboard", "members": "Members",
        "checkout": "Checkout", "lists": "Lists", "devices": "Devices",
        "search": "Search phone / tail / name / card (/)", "covers": "Covers",
        "revenue": "Revenue", "orders": "Orders", "returning": "Returning",
        "new_members": "New members", "vs_last_week": "vs last week",
        "checked_in": "Checked in now", "time": "Time", "table": "Table", "guest": "Guest",
        "allergies": "Allergies", "notes": "Taste notes", "walk_in": "walk-in", "hub": "Hub",
        "backlog": "To sync", "hq": "HQ", "offline": "offline", "online": "online",
        "printers": "Printers", "readers": "Readers", "queue": "To print", "name": "Name",
        "phone": "Phone", "tier": "Tier", "points": "Points", "stored_value": "Stored value",
        "birthday": "Birthday", "seat": "Seat", "tags": "Tags", "vip": "VIP", "save": "Save",
        "top_up": "Top up", "amount_yuan": "Amount (yuan)", "bonus_yuan": "Bonus (yuan)",
        "card": "Card", "link": "Link card", "block": "Block card",
        "send_coupon": "Send coupon", "no_member": "No member selected",
        "lines_hint": "One dish a line: menu code qty (priced by the menu), or name qty "
                      "unit-price (yuan)",
        "party_size": "Guests (dine-in)",
        "redeem_points": "Points to use", "coupon_code": "Coupon code",
        "pay_stored_value": "From stored value (yuan)", "charge": "Charge and print",
        "receipt_preview": "Receipt preview", "lapsed": "Lapsed guests",
        "birthdays": "Birthdays soon", "days": "Days", "load": "Load",
        "template": "Coupon template", "role": "Role", "pair": "New pairing code",
        "revoke": "Revoke", "test_page": "Test page", "last_seen": "Last seen",
        "state": "State", "saved": "Saved", "sent": "Sent", "topped_up": "Topped up",
        "linked": "Card linked", "blocked": "Card blocked", "pairing_code": "Pairing code",
        "link_lost": "Lost the hub; reconnecting…", "link_back": "Hub link is back",
        "printed": "Receipt sent to the printer", "favourites": "Favourites",
        "coupons": "Coupons", "last_visit": "Last visit", "ledger": "Ledger",
        "spice": "Spice", "avoid": "Avoid", "language": "中文", "none": "none",
        "card_read": "Card read", "unknown_card": "unknown card", "visits": "Visits",
        "campaigns": "Campaigns", "kind": "Kind", "schedule": "Schedule",
        "last_run": "Last run", "switch": "On/off", "run_now": "Run now",
        "results": "Results",
        "rules": 'Audience rules as JSON, e.g. {"lapsed_days": 60, "tiers": ["gold"]}',
        "preview": "Preview size", "audience": "Audience", "treated": "Treated",
        "control": "Control", "guests": "Guests", "returned": "Came back",
        "redeemed": "Coupons used", "spend": "Spend", "messages": "Messages",
        "lift": "Lift", "on": "on", "off": "off", "reports": "Reports",
        "menu": "Menu", "code": "Code", "category": "Category", "price": "Price",
        "dish": "Dish", "member_price": "Member price",
        "new_price": "New price (yuan)", "set_price": "Set price",
        "sold_out_today": "Sold out today / back", "sold_out": "sold out", "on_menu": "on",
        "from": "From YYYY-MM-DD", "to": "To YYYY-MM-DD", "export": "Export XLSX+PNG",
        "exported": "Exported",
        "campaign_json": "Campaign as JSON (audience, offer, message, channels, schedule)",
    },
}


def default_language(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for name in ("LAOKE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "zh-CN" if value.lower().startswith("zh") else "en"
    return "zh-CN"
