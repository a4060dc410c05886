"""Faust agents: thin ``async for`` loops that call the core."""
