"""Webhooks and forwarding, the pure part (docs/decisions/0016): which events a subscription
wants (`filters`), how a delivery is signed and named (`signing`), which target addresses are
refused (`targets`). No HTTP client, broker or store here."""
