"""What people touch: the staff console and the tablet and kiosk web pages (to come)."""
