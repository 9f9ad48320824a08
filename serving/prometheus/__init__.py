"""The kit's Prometheus side: rules.yml (SLO recording and alert rules) with its promtool tests, a runner
for a real Prometheus on the committed scrape config (`launcher`), and the PrometheusRule generator."""
