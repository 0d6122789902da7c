"""Pure domain core: stages, rules, events, time rules. No I/O, no frameworks."""
