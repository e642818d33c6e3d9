"""The shell every program shares: typed configuration, logging, sd_notify, clock, CLI options."""
