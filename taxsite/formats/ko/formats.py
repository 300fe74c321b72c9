"""Korean dates (Django's own ko formats otherwise): 2026년 1월 1일, 24-hour times."""

DATE_FORMAT = "Y년 n월 j일"
DATETIME_FORMAT = "Y년 n월 j일 l H:i T"
MONTH_DAY_FORMAT = "n월 j일"
