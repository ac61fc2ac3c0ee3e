"""LeadConduit ``GET /events``: client, page reader and decoder, the poller and its re-check."""
