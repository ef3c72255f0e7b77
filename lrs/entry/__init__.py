"""The entry points: what turns a command line into a running process.

`lrs` (cli), `lrs serve` (supervisor, with the embedded broker and store of embedded), the
operator commands (admin_cli, dlq_cli, transfer_cli) and the first credential (bootstrap).
Nothing below this package imports it (docs/architecture.md, "Packages and arrows").
"""
