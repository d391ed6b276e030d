"""E-mail notifications to units and supervisors (aiosmtplib)."""
