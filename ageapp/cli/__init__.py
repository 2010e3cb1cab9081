"""Headless subcommands of the `ageapp` command; each module registers its own."""
