"""HTTP → report requests → the CSV out (FastAPI)."""
