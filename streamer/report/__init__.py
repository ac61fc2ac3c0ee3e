"""Reports over the archive: LeadConduit report columns, Close status transitions, the API."""
