"""SMS through Kannel (DESIGN §8): out through its smsbox's sendsms interface, always
via the outbox (acknowledgements with the tracking link, the survey's SMS fallback, unit
alerts); in through the smsbox's get-url (a citizen's SMS to a hotline number becomes an
order of channel `sms`, or the answer to an SMS survey)."""
