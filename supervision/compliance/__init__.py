"""The compliance engine: the rulebook, the calendar, flags and their review."""
