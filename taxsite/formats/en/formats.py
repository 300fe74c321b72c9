"""English dates as the page has always written them (Django's own en formats otherwise)."""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "l j F Y, H:i T"
MONTH_DAY_FORMAT = "j M"
