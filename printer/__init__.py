"""Receipts and coupons on thermal printers (to come)."""
