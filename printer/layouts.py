"""Slip layouts: pure functions from what the hub knows to a `Doc` for 58 or 80 mm paper.

Chinese first; `lang="en"` prints the English labels. Amounts print as `96.00元`, never with
`¥`, which GBK printers misprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.domain.money import yuan

from .doc import Doc

LABELS = {
    "zh-CN": {
        "receipt": "结账单", "table": "桌号", "staff": "服务员", "order": "单号", "time": "时间",
        "subtotal": "合计", "combo": "组合优惠", "tier_discount": "会员折扣", "promo": "会员日优惠",
        "coupon": "优惠券",
        "points_used": "积分抵扣", "due": "应付", "stored_value_paid": "储值支付",
        "stored_value_left": "储值余额", "points_earned": "本次积分", "points_balance": "积分余额",
        "member": "会员", "next_coupon": "下次光临可用", "thanks": "谢谢惠顾，欢迎再来！",
        "reprint": "*** 重印 REPRINT ***", "coupon_title": "优惠券", "valid": "有效期",
        "code": "券码", "conditions": "使用条件", "welcome": "欢迎加入会员！",
        "mail_to": "收件人", "address": "地址",
        "your_qr": "出示此码即可识别会员", "kitchen": "厨房单", "party": "人数",
        "allergies": "过敏", "taste": "口味", "avoid": "忌口", "notes": "备注",
        "shift": "交班汇总", "orders": "单数", "covers": "客数", "revenue": "营业额",
        "topups": "储值充值", "coupons_used": "用券", "points_issued": "发放积分",
        "test": "打印测试页", "takeaway": "外带", "delivery": "外卖", "dine_in": "堂食",
        "walk_in": "散客", "channel": "方式", "none": "无",
        "cash": "现金", "wechat": "微信支付", "alipay": "支付宝", "card": "银行卡",
        "voucher": "团购券", "received": "实收", "change": "找零", "cash_drawer": "钱箱应有现金",
        "counted": "清点现金", "difference": "差额",
        "rate_us": "扫码评价本次用餐",
        "meituan": "美团外卖", "eleme": "饿了么", "claim_title": "会员认领码",
        "claim_how": "到店在签到机或平板输入此码，这一单记入您的会员账户",
    },
    "en": {
        "receipt": "Receipt", "table": "Table", "staff": "Staff", "order": "Order",
        "time": "Time", "subtotal": "Subtotal", "combo": "Combo",
        "tier_discount": "Member discount",
        "promo": "Member day",
        "coupon": "Coupon", "points_used": "Points used", "due": "To pay",
        "stored_value_paid": "Paid from card", "stored_value_left": "Card balance",
        "points_earned": "Points earned", "points_balance": "Points balance",
        "member": "Member", "next_coupon": "For your next visit", "thanks": "Thank you!",
        "reprint": "*** REPRINT 重印 ***", "coupon_title": "Coupon", "valid": "Valid",
        "code": "Code", "conditions": "Conditions", "welcome": "Welcome to the club!",
        "mail_to": "To", "address": "Address",
        "your_qr": "Show this code to be recognised", "kitchen": "Kitchen ticket",
        "party": "Guests", "allergies": "ALLERGY", "taste": "Taste", "avoid": "No",
        "notes": "Notes", "shift": "Shift summary", "orders": "Orders", "covers": "Covers",
        "revenue": "Revenue", "topups": "Top-ups", "coupons_used": "Coupons used",
        "points_issued": "Points issued", "test": "Test page", "takeaway": "Takeaway",
        "delivery": "Delivery", "dine_in": "Dine-in", "walk_in": "Walk-in",
        "channel": "Channel", "none": "none",
        "cash": "Cash", "wechat": "WeChat Pay", "alipay": "Alipay", "card": "Bank card",
        "voucher": "Voucher", "received": "Received", "change": "Change",
        "cash_drawer": "Cash in drawer (expected)", "counted": "Cash counted",
        "difference": "Difference", "rate_us": "Scan to rate your meal",
        "meituan": "Meituan", "eleme": "Ele.me", "claim_title": "Member claim code",
        "claim_how": "Enter it at our kiosk or tablet: this order joins your membership",
    },
}


def mask_name(name: str | None) -> str:
    """王芳 -> 王*, 欧阳娜娜 -> 欧**娜: enough for the guest to know it is theirs."""
    if not name:
        return "-"
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


@dataclass
class CouponSlip:
    title: str
    value: str
    conditions: str
    valid_from: str
    valid_until: str
    code: str
    member_name: str | None = None
    store_name: str = ""


@dataclass
class ReceiptLine:
    dish: str
    qty: int
    unit_price_fen: int


@dataclass
class Receipt:
    store_name: str
    order_id: str
    time: str
    lines: list[ReceiptLine]
    total_fen: int
    due_fen: int
    channel: str = "dine_in"
    table: str | None = None
    staff: str | None = None
    combo_discount_fen: int = 0
    tier_discount_fen: int = 0
    promo_discount_fen: int = 0
    coupon_discount_fen: int = 0
    coupon_code: str | None = None
    points_redeemed: int = 0
    points_discount_fen: int = 0
    points_earned: int = 0
    points_balance: int | None = None
    stored_value_paid_fen: int = 0
    stored_value_left_fen: int | None = None
    # How the rest was paid: method, fen, and the cash handed over (for the change)
    tenders: list[tuple[str, int, int | None]] = field(default_factory=list)
    member_name: str | None = None
    tier_name: str | None = None
    next_coupon: CouponSlip | None = None
    member_qr: str | None = None
    notes: list[str] = field(default_factory=list)  # campaign messages for this guest
    feedback_url: str | None = None  # the signed link to rate this meal
    claim_code: str | None = None  # a delivery order's, for its guest to claim it in the shop


@dataclass
class KitchenTicket:
    table: str
    party_size: int
    time: str
    guest: str | None = None
    allergies: list[str] = field(default_factory=list)
    spice: str = ""
    avoid: list[str] = field(default_factory=list)
    notes: str = ""
    station: str = ""  # a round of a table's order: the station's ticket and its dishes
    items: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class ShiftSummary:
    store_name: str
    day: str
    orders: int
    covers: int
    revenue_fen: int
    discounts_fen: int
    stored_value_paid_fen: int
    topups_fen: int
    coupons_used: int
    points_issued: int
    points_redeemed: int
    by_channel: dict[str, int] = field(default_factory=dict)
    by_tender: dict[str, int] = field(default_factory=dict)  # fen taken by each method
    counted_cash_fen: int | None = None  # what the cashier counted in the drawer


def _header(doc: Doc, store_name: str, title: str, reprint: bool, labels: dict[str, str]) -> None:
    if reprint:
        doc.text(labels["reprint"], bold=True, align="center")
    doc.text(store_name, big=True, align="center")
    doc.text(title, bold=True, align="center")
    doc.rule()


def receipt(data: Receipt, paper_mm: int = 80, lang: str = "zh-CN",
            reprint: bool = False) -> Doc:
    labels = LABELS[lang]
    doc = Doc(paper_mm)
    _header(doc, data.store_name, labels["receipt"], reprint, labels)
    if data.table:
        doc.pair(f"{labels['table']}: {data.table}", labels[data.channel])
    else:
        doc.text(f"{labels['channel']}: {labels[data.channel]}")
    doc.text(f"{labels['order']}: {data.order_id[-12:]}")
    doc.text(f"{labels['time']}: {data.time}")
    if data.staff:
        doc.text(f"{labels['staff']}: {data.staff}")
    doc.rule()
    for line in data.lines:
        doc.pair(f"{line.dish} x{line.qty}", yuan(line.qty * line.unit_price_fen))
        if line.qty > 1:
            doc.text(f"  @{yuan(line.unit_price_fen)}")
    doc.rule()
    doc.pair(labels["subtotal"], yuan(data.total_fen))
    if data.combo_discount_fen:
        doc.pair(labels["combo"], f"-{yuan(data.combo_discount_fen)}")
    if data.tier_discount_fen:
        doc.pair(f"{labels['tier_discount']} ({data.tier_name})",
                 f"-{yuan(data.tier_discount_fen)}")
    if data.promo_discount_fen:
        doc.pair(labels["promo"], f"-{yuan(data.promo_discount_fen)}")
    if data.coupon_discount_fen:
        doc.pair(f"{labels['coupon']} {data.coupon_code or ''}",
                 f"-{yuan(data.coupon_discount_fen)}")
    if data.points_redeemed:
        doc.pair(f"{labels['points_used']} {data.points_redeemed}",
                 f"-{yuan(data.points_discount_fen)}")
    doc.pair(labels["due"], yuan(data.due_fen), bold=True)
    if data.stored_value_paid_fen:
        doc.pair(labels["stored_value_paid"], yuan(data.stored_value_paid_fen))
    for method, amount, received in data.tenders:
        doc.pair(labels.get(method, method), yuan(amount))
        if received is not None:
            doc.pair(f"  {labels['received']}", yuan(received))
            doc.pair(f"  {labels['change']}", yuan(received - amount))
    if data.member_name is not None:
        doc.rule()
        doc.pair(f"{labels['member']}: {mask_name(data.member_name)}", data.tier_name or "")
        if data.stored_value_left_fen is not None:
            doc.pair(labels["stored_value_left"], yuan(data.stored_value_left_fen))
        doc.pair(labels["points_earned"], f"+{data.points_earned}")
        if data.points_balance is not None:
            doc.pair(labels["points_balance"], str(data.points_balance))
        if data.member_qr:
            doc.qr(data.member_qr, size=4)
            doc.text(labels["your_qr"], align="center")
    if data.claim_code:
        doc.rule("=")
        doc.text(labels["claim_title"], bold=True, align="center")
        doc.text(f"{data.claim_code[:4]}-{data.claim_code[4:]}", bold=True, align="center")
        doc.text(labels["claim_how"], align="center")
    for note in data.notes:
        doc.rule()
        doc.text(note)
    if data.next_coupon is not None:
        doc.rule("=")
        doc.text(labels["next_coupon"], bold=True, align="center")
        _coupon_body(doc, data.next_coupon, labels)
    if data.feedback_url:
        doc.rule()
        doc.text(labels["rate_us"], align="center")
        doc.qr(data.feedback_url, size=4)
    doc.feed()
    doc.text(labels["thanks"], align="center")
    doc.cut()
    return doc


def _coupon_body(doc: Doc, coupon: CouponSlip, labels: dict[str, str]) -> None:
    doc.text(coupon.title, bold=True, align="center")
    doc.text(coupon.value, big=True, align="center")
    if coupon.conditions:
        doc.text(f"{labels['conditions']}: {coupon.conditions}")
    doc.text(f"{labels['valid']}: {coupon.valid_from} ~ {coupon.valid_until}")
    if coupon.member_name:
        doc.text(f"{labels['member']}: {mask_name(coupon.member_name)}")
    doc.qr(coupon.code)
    doc.text(f"{labels['code']}: {coupon.code}", align="center")


def coupon(data: CouponSlip, paper_mm: int = 80, lang: str = "zh-CN",
           reprint: bool = False, mail_to: tuple[str, str] | None = None) -> Doc:
    """A coupon slip; `mail_to` (the guest's full name and address) heads one that is posted
    to a guest who moved away, so it goes in the envelope as printed."""
    labels = LABELS[lang]
    doc = Doc(paper_mm)
    if mail_to is not None:
        doc.text(f"{labels['mail_to']}: {mail_to[0]}", bold=True)
        doc.text(f"{labels['address']}: {mail_to[1]}")
        doc.rule("=")
    _header(doc, data.store_name, labels["coupon_title"], reprint, labels)
    _coupon_body(doc, data, labels)
    doc.cut()
    return doc


def welcome(store_name: str, member_name: str, member_qr: str,
            welcome_coupon: CouponSlip | None, paper_mm: int = 80, lang: str = "zh-CN",
            reprint: bool = False) -> Doc:
    labels = LABELS[lang]
    doc = Doc(paper_mm)
    _header(doc, store_name, labels["welcome"], reprint, labels)
    doc.text(f"{labels['member']}: {mask_name(member_name)}", align="center")
    doc.qr(member_qr, size=5)
    doc.text(labels["your_qr"], align="center")
    if welcome_coupon is not None:
        doc.rule("=")
        _coupon_body(doc, welcome_coupon, labels)
    doc.cut()
    return doc


def kitchen(data: KitchenTicket, paper_mm: int = 80, lang: str = "zh-CN",
            reprint: bool = False) -> Doc:
    """Allergies and taste notes in large bold type: the cook must not miss them."""
    labels = LABELS[lang]
    doc = Doc(paper_mm)
    if reprint:
        doc.text(labels["reprint"], bold=True, align="center")
    doc.text(f"{data.station or labels['kitchen']}  {labels['table']} {data.table}", big=True,
             bold=True)
    doc.pair(f"{labels['party']}: {data.party_size}", data.time)
    if data.guest:
        doc.text(f"{labels['member']}: {mask_name(data.guest)}")
    doc.rule("=")
    for allergy in data.allergies:
        word = f"{allergy}过敏" if lang == "zh-CN" else f"{labels['allergies']}: {allergy}"
        doc.text(f"!! {word} !!", big=True, bold=True)
    if data.spice:
        doc.text(f"{labels['taste']}: {data.spice}", big=True, bold=True)
    if data.avoid:
        doc.text(f"{labels['avoid']}: {'、'.join(data.avoid)}", big=True, bold=True)
    if data.notes:
        doc.text(f"{labels['notes']}: {data.notes}", bold=True)
    if not (data.allergies or data.spice or data.avoid or data.notes):
        doc.text(f"{labels['notes']}: {labels['none']}")
    doc.rule("=")
    for dish, qty in data.items:
        doc.text(f"{dish} x{qty}", big=True, bold=True)
    if data.items:
        doc.rule("-")
    doc.cut()
    return doc


def shift(data: ShiftSummary, paper_mm: int = 80, lang: str = "zh-CN",
          reprint: bool = False) -> Doc:
    labels = LABELS[lang]
    doc = Doc(paper_mm)
    _header(doc, data.store_name, f"{labels['shift']} {data.day}", reprint, labels)
    doc.pair(labels["orders"], str(data.orders))
    doc.pair(labels["covers"], str(data.covers))
    doc.pair(labels["revenue"], yuan(data.revenue_fen), bold=True)
    for channel, count in data.by_channel.items():
        doc.pair(f"  {labels.get(channel, channel)}", str(count))
    doc.pair(labels["tier_discount"] + "/" + labels["coupon"], f"-{yuan(data.discounts_fen)}")
    doc.pair(labels["stored_value_paid"], yuan(data.stored_value_paid_fen))
    for method, amount in data.by_tender.items():
        doc.pair(f"  {labels.get(method, method)}", yuan(amount))
    cash = data.by_tender.get("cash", 0)
    doc.pair(labels["cash_drawer"], yuan(cash), bold=True)
    if data.counted_cash_fen is not None:
        doc.pair(labels["counted"], yuan(data.counted_cash_fen))
        doc.pair(labels["difference"], yuan(data.counted_cash_fen - cash, sign=True), bold=True)
    doc.pair(labels["topups"], yuan(data.topups_fen))
    doc.pair(labels["coupons_used"], str(data.coupons_used))
    doc.pair(labels["points_issued"], str(data.points_issued))
    doc.pair(labels["points_used"], str(data.points_redeemed))
    doc.cut()
    return doc


def test_page(name: str, url: str, paper_mm: int = 80) -> Doc:
    doc = Doc(paper_mm)
    doc.text("老客 laoke", big=True, align="center")
    doc.text("打印测试页 / test page", bold=True, align="center")
    doc.rule()
    doc.text(f"printer: {name}")
    doc.text(f"url: {url}")
    doc.text(f"paper: {paper_mm} mm, {doc.columns} columns")
    doc.text("0123456789" * (doc.columns // 10) + "0123456789"[: doc.columns % 10])
    doc.text("中文测试：宫保鸡丁、麻婆豆腐（微辣）")
    doc.pair("对齐 alignment", "96.00元")
    doc.text("粗体 bold", bold=True)
    doc.text("大字 big", big=True)
    doc.qr("laoke test page")
    doc.cut()
    return doc
