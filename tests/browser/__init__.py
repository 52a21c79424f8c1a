"""Browser tests (Playwright + Chromium) against the example store."""
