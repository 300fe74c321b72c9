"""Staff review of conversations lives in the review app (review/admin.py): the queue, the
review page, receipts, feedback, flags and the access log, all behind Django's permissions."""
