"""What operators see: metrics, structured logs, progress, sd_notify, retries."""
