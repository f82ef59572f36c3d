"""Settings: `laoke.toml` in the home, defaults that match config/laoke.toml, env overrides.

Validation errors name the key and the file, on one line, so an installer can fix them
without reading a traceback.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError

CONFIG_NAME = "laoke.toml"
PLACEHOLDER_CHAIN_KEY = "replace-with-the-chain-key-from-hq"  # config/laoke.toml's, refused
ENV_PREFIX = "LAOKE_"
STORE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ApiSettings(_Section):
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 8420
    # HTTPS on `port` with the home's certificate (tls/); plain HTTP on the same port answers
    # only /api/v1/health and a redirect. New homes are made with it on; a home made before
    # keeps plain HTTP until its owner runs `laoke tls enable`.
    tls: bool = False


class DiscoverySettings(_Section):
    enabled: bool = True
    # "all", or comma-separated local addresses to announce and browse on (tests: 127.0.0.1).
    interfaces: str = "all"


class BrokerSettings(_Section):
    url: str = ""
    username: str = ""
    password: str = ""
    tls: bool = False          # or an mqtts:// url
    ca_file: str = ""          # the CA (PEM) that signed HQ's broker; "" for the system's


class ChainSettings(_Section):
    # The chain's secret: signs coupons and member QR codes so every hub can check them
    # offline. Generated per home; HQ hands the same key to every store of a chain.
    key: Annotated[str, Field(min_length=16)]
    # How long a checkout waits for HQ to authorise a stored-value spend before it falls
    # back to the slice HQ reserved for this store.
    auth_timeout_s: Annotated[float, Field(gt=0, le=30)] = 2.0
    # A slice of a guest's stored value unused this long is given back for other stores.
    slice_idle_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # How long the store keeps the events HQ acknowledged, for an HQ restored from a backup
    # to ask for again (0: none are kept).
    sent_retention_days: Annotated[int, Field(ge=0, le=3650)] = 30

    @field_validator("key")
    @classmethod
    def _not_the_placeholder(cls, key: str) -> str:
        """The shipped file's key is public: a store signing with it has no secret at all."""
        if key == PLACEHOLDER_CHAIN_KEY:
            raise ValueError("the placeholder from config/laoke.toml: use the key HQ gave "
                             "this chain (a new home generates its own)")
        return key


class StorageSettings(_Section):
    # FULL survives power loss (a Pi on a kitchen socket); NORMAL survives process crashes only.
    synchronous: Literal["full", "normal"] = "full"
    busy_timeout_ms: Annotated[int, Field(ge=0, le=600_000)] = 10_000


class BackupSettings(_Section):
    dir: str = ""  # a folder (a USB stick): with one, the hub backs up every night
    keep: Annotated[int, Field(ge=1, le=365)] = 7  # the newest backups kept there


class PointsSettings(_Section):
    earn_per_yuan: Annotated[int, Field(ge=0, le=100)] = 1
    fen_per_point: Annotated[int, Field(ge=1, le=10_000)] = 10
    expire_days: Annotated[int, Field(ge=0)] = 730  # 0: points never expire


class Tier(_Section):
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name: str
    name_en: str
    min_spend_fen: Annotated[int, Field(ge=0)]
    points_multiplier_pct: Annotated[int, Field(ge=0, le=1000)] = 100
    discount_pct: Annotated[int, Field(ge=0, le=100)] = 0


DEFAULT_TIERS = [
    Tier(code="member", name="普通会员", name_en="Member", min_spend_fen=0),
    Tier(code="silver", name="银卡会员", name_en="Silver", min_spend_fen=200_000,
         points_multiplier_pct=120),
    Tier(code="gold", name="金卡会员", name_en="Gold", min_spend_fen=500_000,
         points_multiplier_pct=150, discount_pct=5),
    Tier(code="diamond", name="钻石会员", name_en="Diamond", min_spend_fen=1_500_000,
         points_multiplier_pct=200, discount_pct=10),
]


class PrivacySettings(_Section):
    consent_version: str = "2026-11"


class SecuritySettings(_Section):
    require_pin_for_money: bool = False
    # The most bonus a cashier may add to a top-up alone; more needs a manager.
    cashier_bonus_limit_fen: Annotated[int, Field(ge=0)] = 5000


class PrinterSettings(_Section):
    name: str
    url: str
    width: Literal[58, 80] = 80
    profile: str = "default"  # a python-escpos capabilities profile, e.g. "TM-T88V"
    encoding: Literal["gb18030", "gbk", "ascii"] = "gb18030"
    # Kitchen stations whose tickets this printer prints (热菜间, 凉菜间, 吧台 ...); a station no
    # printer names prints on the first printer.
    stations: list[str] = []


class TillSettings(_Section):
    # The merchant's payment QR (微信/支付宝 收款码 text) the guest's display shows; laoke
    # records tenders and processes no payment itself.
    payment_qr: Annotated[str, Field(max_length=300)] = ""
    # A dish with a count of portions left today (沽清) is flagged as running low, on the
    # console and the tablet, at this many portions or fewer.
    portions_reminder: Annotated[int, Field(ge=0, le=1000)] = 3


class PrintingSettings(_Section):
    # Printed on receipts of members: a fresh coupon of this template ("" for none).
    next_coupon_template: str = ""
    # Printed on the welcome slip of a kiosk sign-up ("" for none).
    welcome_coupon_template: str = ""


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class CampaignSettings(_Section):
    # No message leaves between these local times; it waits for the end of the window.
    quiet_start: Annotated[str, Field(pattern=HHMM)] = "21:00"
    quiet_end: Annotated[str, Field(pattern=HHMM)] = "09:00"
    # At most this many marketing messages per guest over any 7 days, all campaigns together.
    weekly_cap: Annotated[int, Field(ge=1, le=50)] = 2
    # How long after being picked a guest's return and spend count for a campaign.
    measure_days: Annotated[int, Field(ge=1, le=365)] = 30
    # What one message that leaves the store (the SMS or WeChat gateway, e-mail) costs, in
    # fen: the campaign_roi report counts it with the discounts against the lift's revenue.
    message_cost_fen: Annotated[int, Field(ge=0, le=100_000)] = 0
    # The hub's address as guests' phones reach it, for unsubscribe links ("" for none).
    public_url: str = ""


class ShiftSettings(_Section):
    # A shift with no request from its device for this long ends by itself (a tablet left
    # on the counter does not keep crediting the last person who signed in).
    idle_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 45
    # Local closing time: every shift open then ends; a shift opened later ends at the next.
    closing: Annotated[str, Field(pattern=HHMM)] = "23:00"
    # The rota: how many covers an hour one person on the floor serves well.
    covers_per_waiter: Annotated[int, Field(ge=1, le=500)] = 12


class FeedbackSettings(_Section):
    # A rating at or under this alerts the manager on the console at once.
    low_rating: Annotated[int, Field(ge=1, le=5)] = 2
    # The coupon template of the console's one-key apology ("" for none offered).
    apology_coupon_template: str = ""


class CallSettings(_Section):
    # The call list: members not seen for this many days who came at least this often.
    lapsed_days: Annotated[int, Field(ge=1, le=3650)] = 90
    min_visits: Annotated[int, Field(ge=1, le=1000)] = 3
    # The coupon template a call sends or posts ("" for none offered).
    coupon_template: str = ""


class BoxPrize(_Section):
    """One prize of the mystery box: a coupon (a new dish's tasting, a free meal), points, or
    a points multiplier on the guest's next bill (双倍积分: 200)."""

    name: Annotated[str, Field(min_length=1, max_length=40)]  # what the guest is told
    weight: Annotated[int, Field(ge=1, le=1_000_000)]
    coupon_template: str = ""  # the name of the coupon template it issues
    points: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    # Points earned on the guest's next bill, in percent of what it earns (200: double), for
    # a bill paid within `boost_days` of the box.
    points_multiplier_pct: Annotated[int, Field(ge=0, le=1000)] = 0
    boost_days: Annotated[int, Field(ge=1, le=365)] = 30

    @model_validator(mode="after")
    def _one_prize(self) -> BoxPrize:
        if sum(map(bool, (self.coupon_template, self.points, self.points_multiplier_pct))) != 1:
            raise ValueError(f"mystery_box.prizes {self.name!r}: a coupon_template, points or "
                             "a points_multiplier_pct, one of the three")
        if self.points_multiplier_pct and self.points_multiplier_pct <= 100:
            raise ValueError(f"mystery_box.prizes {self.name!r}: a points_multiplier_pct "
                             "above 100 (200 doubles the points)")
        return self


class MysteryBoxSettings(_Section):
    # The price of a box (盲盒); 0: not sold. A guest's tier discount applies, as on any bill.
    price_fen: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    prizes: list[BoxPrize] = Field(default_factory=list)


class DishCommission(_Section):
    """So much per dish sold, for one dish (its code) or every dish of a category."""

    code: str = ""
    category: str = ""
    amount_fen: Annotated[int, Field(ge=0, le=1_000_000)]

    @model_validator(mode="after")
    def _one_target(self) -> DishCommission:
        if bool(self.code) == bool(self.category):
            raise ValueError("commission.dishes: name a dish code or a category, not both")
        return self


class CommissionSettings(_Section):
    # Shares in basis points (万分之): 150 is 1.5 %. Each person's figure is rounded down.
    sales_bp: Annotated[int, Field(ge=0, le=10_000)] = 0           # of the takings they rang up
    stored_value_bp: Annotated[int, Field(ge=0, le=10_000)] = 0    # of the stored value sold
    signup_fen: Annotated[int, Field(ge=0, le=1_000_000)] = 0      # per member signed up
    dishes: list[DishCommission] = Field(default_factory=list)


OPT_OUTS = ("回T退订", "拒收请回复R")  # what the carriers accept on a promotional text


class SmsTemplate(_Section):
    # The provider's id of an approved template, and its wording written with laoke's
    # placeholders ({name}, {offer}, ...): Alibaba's template names them ${name}; Tencent's
    # numbers them {1}, {2}, ... in the order they appear here.
    code: Annotated[str, Field(min_length=1, max_length=40)]
    text: Annotated[str, Field(min_length=1, max_length=500)]

    @model_validator(mode="after")
    def _opt_out(self) -> SmsTemplate:
        if not any(words in self.text for words in OPT_OUTS):
            raise ValueError(f"template {self.code}: a promotional text carries the opt-out "
                             f"({' or '.join(OPT_OUTS)})")
        return self


class SmsSettings(_Section):
    # "aliyun" (Dysmsapi) or "tencent" (SMS 2021-01-11); "" switches the channel off.
    provider: Literal["", "aliyun", "tencent"] = ""
    access_key_id: str = ""      # Alibaba AccessKey ID, or Tencent SecretId
    access_key_secret: str = ""  # Alibaba AccessKey secret, or Tencent SecretKey
    sign_name: str = ""          # the registered signature; guests read it as 【sign_name】
    sdk_app_id: str = ""         # Tencent: SmsSdkAppId
    region: str = "ap-guangzhou"  # Tencent: X-TC-Region
    endpoint: str = ""           # "" for the provider's public API
    # Both providers push receipts and replies to a URL set in their console, unsigned:
    # /api/v1/sms/{aliyun|tencent}/{reports|replies}?token=T.
    callback_token: str = ""
    # Carriers take promotional texts only in this local window, on top of quiet hours.
    window_start: Annotated[str, Field(pattern=HHMM)] = "08:00"
    window_end: Annotated[str, Field(pattern=HHMM)] = "21:00"
    templates: list[SmsTemplate] = Field(default_factory=list)


class WeChatTemplate(_Section):
    # A template the account picked from WeChat's library (模板消息), by its template_id; `text`
    # is the campaign wording it carries, with laoke's placeholders (a campaign with the
    # `wechat` channel says word for word what one template's text says), and `params` fills
    # each of the template's parameters (WeChat's names: thing1, time2, first, remark ...)
    # with laoke's placeholders too: {"thing1": "{offer}", "time2": "{until}"}.
    # `kind` "notice" is a subscription notice (订阅通知 > 我的模板) instead: it goes only to a
    # guest who accepted it (in an article or page of the account), once per acceptance.
    id: Annotated[str, Field(min_length=1, max_length=64)]
    kind: Literal["template", "notice"] = "template"
    text: Annotated[str, Field(min_length=1, max_length=500)]
    params: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")],
                 Annotated[str, Field(max_length=200)]]

    @model_validator(mode="after")
    def _has_params(self) -> WeChatTemplate:
        if not self.params:
            raise ValueError(f"template {self.id}: a template message fills at least one "
                             "parameter")
        return self


class WeChatSettings(_Section):
    # A WeChat Official Account (服务号): its AppID and AppSecret (公众平台 > 设置与开发 >
    # 基本配置); "" for app_id switches the channel off. The secret is kept like the SMS keys:
    # in this owner-only file or LAOKE_MESSAGING_WECHAT_APP_SECRET.
    app_id: str = ""
    app_secret: str = ""
    # The Token set for the server URL (服务器配置): WeChat signs each callback with it.
    token: str = ""
    # Its EncodingAESKey (43 characters) for 安全模式, where WeChat encrypts each event and
    # signs the encrypted body too; "" for 明文模式. With a key, plaintext events are refused.
    encoding_aes_key: Annotated[str, Field(pattern=r"^([A-Za-z0-9]{43})?$")] = ""
    # "" for WeChat's API (https://api.weixin.qq.com); tests point it at a stand-in.
    api_base: str = ""
    # How long a kiosk's follow QR (a parametric QR naming the guest) stays valid.
    qr_expire_s: Annotated[int, Field(ge=60, le=2_592_000)] = 86_400
    # A callback signed longer ago than this (or this far ahead) is a replay, refused.
    callback_window_s: Annotated[int, Field(ge=30, le=86_400)] = 300
    templates: list[WeChatTemplate] = Field(default_factory=list)

    @property
    def configured(self) -> bool:
        return bool(self.app_id and self.app_secret)

    def is_notice(self, template_id: str) -> bool:
        """Whether this template of the account is a subscription notice (订阅通知)."""
        return any(t.id == template_id and t.kind == "notice" for t in self.templates)


class MessagingSettings(_Section):
    # An HTTP endpoint that takes {"to", "text", ...} as JSON: an SMS gateway or a WeChat
    # service-account relay. "" switches the channel off.
    webhook_url: str = ""
    webhook_token: str = ""
    smtp_host: str = ""              # "" switches e-mail off
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_sender: str = ""
    smtp_starttls: bool = True
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    # Where texts, webhook messages and e-mails leave from: "hub" sends them with this
    # store's accounts; "hq" hands each to HQ over the sync link, which sends them with the
    # chain's (HQ's [messaging]: its SMS provider, webhook, mail server and WeChat account)
    # and sends their fate, receipts and the guests' replies back. With "hq", HQ also hosts
    # the WeChat account's callback and makes the kiosk's follow QRs (`laoke hq run
    # --wechat-port`): the store sets only [messaging.wechat] app_id and its templates.
    route: Literal["hub", "hq"] = "hub"
    sms: SmsSettings = SmsSettings()
    wechat: WeChatSettings = WeChatSettings()

    @property
    def wechat_on(self) -> bool:
        """Whether guests follow the account and get its messages here: the store's own
        account, or with route "hq" the chain's, which HQ holds (the store names it by its
        AppID and keeps its wording of the templates; the secret stays at HQ)."""
        return self.wechat.configured or (self.route == "hq" and bool(self.wechat.app_id))


class WeatherSettings(_Section):
    # Where the store is; unset (the default): no weather is fetched and the forecast runs
    # without it. Open-Meteo's forecast and archive APIs (JSON); tests point them elsewhere.
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    # Who asks the weather service for this place: the hub itself, or HQ, which fetches for
    # every store (one client, each place's answers cached) and sends it down the sync link
    # (a store without the internet but with its link to HQ; `[broker] url` needed).
    source: Literal["hub", "hq"] = "hub"
    forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    refresh_hours: Annotated[float, Field(gt=0, le=168)] = 6.0

    @property
    def configured(self) -> bool:
        return self.latitude is not None and self.longitude is not None


class PlatformSettings(_Section):
    """One delivery platform's open-platform app: its pushes are signed with `app_secret`, so
    "" switches its push receiver off (it answers 401 to everything)."""

    app_id: str = ""
    app_secret: str = ""


class MeituanSettings(PlatformSettings):
    """Meituan's app, and whether its brand member card (品牌会员卡) may sign a guest up here:
    off, a card opened on Meituan only links a guest who is a member already. On only if the
    card's terms the guest accepts on Meituan carry this store's privacy wording."""

    open_cards: bool = False


# The columns an order file may have (shared/SPEC.md's generic file, and amounts in yuan as the
# platforms' own exports write them); `[delivery.columns]` maps a file's headers onto them.
OrderFileColumn = Literal["platform_order_id", "created_at", "customer_id", "phone", "dish",
                          "qty", "unit_price_fen", "platform_fee_fen", "unit_price_yuan",
                          "platform_fee_yuan", "delivery_fee_fen", "delivery_fee_yuan",
                          "status", "refunded_fen", "refunded_yuan"]


class DeliverySettings(_Section):
    meituan: MeituanSettings = MeituanSettings()
    eleme: PlatformSettings = PlatformSettings()
    # A platform's back-office export read as it is: its header (订单编号) -> laoke's column
    # (platform_order_id). Headers are matched without case or surrounding spaces.
    columns: dict[str, OrderFileColumn] = Field(default_factory=dict)
    # A push signed longer ago than this (or this far ahead) is a replay, refused.
    push_window_s: Annotated[int, Field(ge=30, le=86_400)] = 600


class GroupBuySettings(_Section):
    """美团/大众点评's group-buy voucher API (团购券 receipt/prepare, consume, reverseconsume),
    signed like Meituan's open platform with `app_secret`; "" for `url`: vouchers are taken
    pending and verified once it is set. The platform keeps `commission_pct` of what the guest
    paid for the deal."""

    url: str = ""
    app_key: str = ""
    app_secret: str = ""
    shop_id: str = ""
    commission_pct: Annotated[float, Field(ge=0, le=100)] = 0.0
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    verify_every_s: Annotated[float, Field(ge=5, le=3600)] = 60.0


class ReaderSettings(_Section):
    url: str
    protocol: Literal["rdm6300", "track2", "line"]
    station: str = "cashier"
    baudrate: Annotated[int, Field(ge=300, le=921_600)] | None = None  # per protocol if unset
    checkin: bool = False  # a member's read seats them at this station


class Settings(_Section):
    store_id: Annotated[str, Field(pattern=STORE_ID_PATTERN)]
    store_name: str = "老客小馆"
    region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "CN"
    timezone: str = "Asia/Shanghai"
    locale: Literal["zh-CN", "en"] = "zh-CN"
    api: ApiSettings = ApiSettings()
    broker: BrokerSettings = BrokerSettings()
    discovery: DiscoverySettings = DiscoverySettings()
    chain: ChainSettings
    storage: StorageSettings = StorageSettings()
    backup: BackupSettings = BackupSettings()
    points: PointsSettings = PointsSettings()
    tiers: list[Tier] = Field(default_factory=lambda: list(DEFAULT_TIERS))
    privacy: PrivacySettings = PrivacySettings()
    security: SecuritySettings = SecuritySettings()
    printing: PrintingSettings = PrintingSettings()
    till: TillSettings = TillSettings()
    campaigns: CampaignSettings = CampaignSettings()
    messaging: MessagingSettings = MessagingSettings()
    shifts: ShiftSettings = ShiftSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    calls: CallSettings = CallSettings()
    mystery_box: MysteryBoxSettings = MysteryBoxSettings()
    commission: CommissionSettings = CommissionSettings()
    weather: WeatherSettings = WeatherSettings()
    delivery: DeliverySettings = DeliverySettings()
    group_buy: GroupBuySettings = GroupBuySettings()
    printers: list[PrinterSettings] = Field(default_factory=list)
    readers: list[ReaderSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tiers_make_sense(self) -> Settings:
        if not self.tiers or self.tiers[0].min_spend_fen != 0:
            raise ValueError("tiers: the first tier must start at min_spend_fen = 0")
        spends = [t.min_spend_fen for t in self.tiers]
        if spends != sorted(set(spends)):
            raise ValueError("tiers: min_spend_fen must rise strictly from tier to tier")
        codes = [t.code for t in self.tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tiers: codes must be unique")
        return self

    @model_validator(mode="after")
    def _timezone_exists(self) -> Settings:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None
        return self

    @property
    def chain_key(self) -> bytes:
        return self.chain.key.encode()

    def tier(self, code: str) -> Tier:
        for tier in self.tiers:
            if tier.code == code:
                return tier
        return self.tiers[0]


# What HQ may set for every store of the chain; a store's identity, keys, ports and devices
# stay its own.
CHAIN_SECTIONS = ("points", "tiers", "privacy", "campaigns", "printing")


def overlay(settings: Settings, changes: dict[str, Any]) -> None:
    """Apply HQ's chain-wide settings to `settings` in place (every connection of the hub
    shares the object, so the change is live); refuses anything else with the reason."""
    if not isinstance(changes, dict):
        raise ConfigError("chain settings must be a JSON object")
    foreign = sorted(set(changes) - set(CHAIN_SECTIONS))
    if foreign:
        raise ConfigError(f"HQ may not set {', '.join(foreign)}; only "
                          f"{', '.join(CHAIN_SECTIONS)}")
    merged = _merge(settings.model_dump(mode="json"), changes)
    try:
        checked = Settings.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_describe(error, "chain settings")) from None
    for name in changes:
        setattr(settings, name, getattr(checked, name))


def checked_store_id(value: str, source: str) -> str:
    """A store id as the settings take it, refused on one line naming where it came from."""
    if not re.match(STORE_ID_PATTERN, value):
        raise ConfigError(f"{source}: {value!r} is not a store id (1 to 32 letters, digits, "
                          "'-' or '_', starting with a letter or digit)")
    return value


def new_settings(store_id: str | None = None) -> Settings:
    """Settings for a new home: a fresh store id and chain key, everything else default."""
    return Settings(
        store_id=store_id or f"store-{secrets.token_hex(3)}",
        chain=ChainSettings(key=secrets.token_urlsafe(32)),
        api=ApiSettings(tls=True),
    )


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """LAOKE_STORE_ID, LAOKE_API_PORT, LAOKE_BROKER_URL, ...: one variable per scalar setting."""
    return _section_overrides(Settings, ENV_PREFIX, environ)


def _section_overrides(section: type[_Section], prefix: str,
                       environ: dict[str, str]) -> dict[str, Any]:
    """A section's variables, and its sections' (LAOKE_DELIVERY_MEITUAN_APP_SECRET), so a
    secret can come from the service's environment instead of the file."""
    found: dict[str, Any] = {}
    for name, field in section.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, _Section):
            inner = _section_overrides(annotation, f"{prefix}{name}_", environ)
            if inner:
                found[name] = inner
        elif get_origin(annotation) not in (list, dict):
            var = f"{prefix}{name}".upper()
            if var in environ:
                found[name] = environ[var]
    return found


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = re.sub(r"^Value error, ", "", first["msg"])
    if first["type"] == "extra_forbidden":
        message = "unknown setting"
    more = len(error.errors()) - 1
    tail = f" (and {more} more)" if more else ""
    return f"{source}: {where}: {message}{tail}"


def parse_settings(data: dict[str, Any], source: str,
                   environ: dict[str, str] | None = None) -> Settings:
    environ = dict(os.environ) if environ is None else environ
    try:
        return Settings.model_validate(_merge(data, _env_overrides(environ)))
    except ValidationError as error:
        raise ConfigError(_describe(error, source)) from None


def load_settings(home: Path, environ: dict[str, str] | None = None) -> Settings:
    path = home / CONFIG_NAME
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no config file (is this a laoke home?)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_settings(data, str(path), environ)


def write_settings(home: Path, settings: Settings) -> Path:
    """Write the file with owner-only permissions: it holds the chain key and broker password."""
    path = home / CONFIG_NAME
    text = "# laoke store settings; see config/laoke.toml for every key and its meaning.\n"
    text += tomli_w.dumps(settings.model_dump(mode="json", exclude_none=True))
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path
