"""The AI gateway package: every Cloud Function imports it (see README, Architecture)."""
