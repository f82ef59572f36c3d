"""The console's tabs, in the order of their keys (F1 to F8, and F11 for stock)."""

from .base import Pane
from .campaigns import CampaignsPane
from .checkout import CheckoutPane
from .dashboard import DashboardPane
from .devices import DevicesPane
from .lists import ListsPane
from .members import MembersPane
from .menu import MenuPane
from .reports import ReportsPane
from .stock import StockPane

PANES: tuple[type[Pane], ...] = (DashboardPane, MembersPane, CheckoutPane, ListsPane,
                                 CampaignsPane, DevicesPane, ReportsPane, MenuPane, StockPane)

__all__ = ["PANES", "CampaignsPane", "CheckoutPane", "DashboardPane", "DevicesPane",
           "ListsPane", "MembersPane", "MenuPane", "Pane", "ReportsPane", "StockPane"]
