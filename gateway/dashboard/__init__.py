"""The results dashboard: a page in the browser over the admin API, and its charts drawn on the
server as SVG (no charting library to vendor, and a chart is testable as text)."""
