"""The reports' names, apart from the reports: the command line's choices and the console's
list need them without loading a single query (hub/domain/reports/ answers them)."""

REPORT_NAMES = ("dishes", "pairings", "dish_mix", "ordered_without", "hours", "party_sizes",
                "occupancy", "repurchase", "repurchase_yoy", "cohorts", "rfm", "coupons",
                "lapsed", "birthdays", "staff", "commission", "channels", "summary", "forecast",
                "campaign_roi", "churn", "boxes", "channel_shift", "guest_channels")
