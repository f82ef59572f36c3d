"""The store's books: members, visits, orders, ledgers, coupons, tiers, staff and the outbox.

Nothing here speaks HTTP, MQTT, serial, ESC/POS or draws a screen; those adapters call in.
"""
