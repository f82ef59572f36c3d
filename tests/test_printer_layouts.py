"""Every layout at both widths, in Chinese and English, checked by decoding the ESC/POS."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printer import layouts
from printer.doc import Doc, text_width, wrap
from printer.escpos_decode import decode
from printer.escpos_out import to_escpos

COUPON = layouts.CouponSlip(title="满100减20", value="20.00元", conditions="满100.00元可用",
                            valid_from="2026-11-25", valid_until="2026-12-25",
                            code="JTF69B2PQH01N39Y0H", member_name="王芳", store_name="老客小馆")
RECEIPT = layouts.Receipt(
    store_name="老客小馆", order_id="01a21347-eaac-7a73-8ac1-9e7c18f9c932",
    time="2026-11-25 12:30", table="A5", staff="服务员 张伟",
    lines=[layouts.ReceiptLine("宫保鸡丁", 2, 4800),
           layouts.ReceiptLine("超级无敌好吃的麻婆豆腐（特辣版）加一份米饭", 1, 3200),
           layouts.ReceiptLine("Coca-Cola", 3, 500)],
    total_fen=14300, due_fen=11300, coupon_discount_fen=2000, coupon_code="JTF69B",
    points_redeemed=100, points_discount_fen=1000, points_earned=113, points_balance=409,
    stored_value_paid_fen=5000, stored_value_left_fen=7000, member_name="王芳",
    tier_name="金卡会员", tier_discount_fen=0, next_coupon=COUPON)


def paper(doc, encoding="gb18030"):
    return decode(to_escpos(doc, encoding=encoding))


@pytest.mark.parametrize("mm, columns", [(58, 32), (80, 48)])
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_receipt(mm, columns, lang):
    printed = paper(layouts.receipt(RECEIPT, mm, lang))
    assert printed.chinese, "Chinese character mode is switched on"
    for op in printed.ops:
        if hasattr(op, "line"):
            limit = columns // 2 if op.big else columns
            assert text_width(op.line) <= limit, op.line
    text = printed.text
    assert "老客小馆" in text and "96.00元" in text and "113.00元" in text
    assert "¥" not in text
    dish_lines = [line for line in printed.lines if line.endswith("96.00元")]
    assert text_width(dish_lines[0]) == columns, "amounts flush right"
    totals = [line for line in printed.lines if line.endswith("143.00元")]
    assert text_width(totals[0]) == columns
    assert "麻婆豆腐" in text.replace("\n", ""), "long dish names wrap, nothing lost"
    assert printed.qr_payloads == ["JTF69B2PQH01N39Y0H"]
    assert printed.cuts == 1
    assert ("下次光临可用" if lang == "zh-CN" else "next visit") in text
    assert "王*" in text and "王芳" not in text, "the guest's name is masked"


@pytest.mark.parametrize("mm", [58, 80])
def test_coupon_welcome_shift_and_test_page(mm):
    coupon = paper(layouts.coupon(COUPON, mm))
    assert coupon.qr_payloads == [COUPON.code] and COUPON.code in coupon.text
    assert "2026-12-25" in coupon.text and "满100.00元可用" in coupon.text
    reprint = paper(layouts.coupon(COUPON, mm, reprint=True))
    assert "重印" in reprint.lines[0] and "REPRINT" in reprint.lines[0]
    welcome = paper(layouts.welcome("老客小馆", "欧阳娜娜", "LKM1.abc.SIG", COUPON, mm))
    assert welcome.qr_payloads == ["LKM1.abc.SIG", COUPON.code] and "欧**娜" in welcome.text
    shift = paper(layouts.shift(layouts.ShiftSummary(
        store_name="老客小馆", day="2026-11-25", orders=76, covers=235, revenue_fen=1345390,
        discounts_fen=2000, stored_value_paid_fen=5000, topups_fen=100000, coupons_used=3,
        points_issued=900, points_redeemed=100, by_channel={"dine_in": 70, "takeaway": 6}), mm))
    assert "13453.90元" in shift.text and "235" in shift.text
    test = paper(layouts.test_page("cashier", "tcp://10.0.0.9:9100", mm))
    assert "中文测试" in test.text and test.qr_payloads == ["laoke test page"]


@pytest.mark.parametrize("mm", [58, 80])
def test_kitchen_ticket_shouts_allergies(mm):
    ticket = layouts.KitchenTicket(table="A5", party_size=3, time="12:31", guest="王芳",
                                   allergies=["对虾"], spice="微辣", avoid=["花椒"],
                                   notes="少油")
    printed = paper(layouts.kitchen(ticket, mm))
    shouted = [op for op in printed.ops if hasattr(op, "line") and "对虾过敏" in op.line]
    assert shouted and shouted[0].big and shouted[0].bold
    spice = [op for op in printed.ops if hasattr(op, "line") and "微辣" in op.line]
    assert spice[0].big and spice[0].bold
    assert any("花椒" in line for line in printed.lines)


def test_full_width_punctuation_and_yen_are_not_question_marks():
    doc = Doc(80).text("（会员价）：十二元整")
    assert "（会员价）：十二元整" in paper(doc).text
    assert paper(Doc(80).text("价格¥12")).text.count("?") == 0  # GB18030 keeps it
    assert paper(Doc(80).text("价格¥12"), encoding="gbk").text == "价格?12", \
        "a GBK printer cannot show ¥: layouts never use it"


def test_a_native_qr_is_small():
    data = to_escpos(Doc(80).qr("JTF69B2PQH01N39Y0H").cut())
    assert len(data) < 120


@given(st.text(max_size=200), st.integers(min_value=4, max_value=48))
def test_wrapping_never_cuts_a_character_or_exceeds_the_width(text, width):
    text = text.replace("\r", "")
    lines = wrap(text, width)
    assert all(text_width(line) <= width for line in lines)
    assert "".join("".join(lines).split()) == "".join(text.split())


def test_text_cannot_smuggle_printer_commands():
    printed = paper(Doc(80).text("宫保鸡丁\x1dV\x00\x1b@\x10\x04\x01").cut())
    assert printed.cuts == 1 and not printed.status_queries


@given(st.binary(max_size=500))
def test_the_decoder_survives_any_bytes(data):
    decode(data)


def test_an_unknown_profile_is_a_clear_error():
    from hub.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="profile"):
        to_escpos(Doc(80).text("x"), profile="no-such-printer")
    assert to_escpos(Doc(80).text("x"), profile="TM-T88V")
