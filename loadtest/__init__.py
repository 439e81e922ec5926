"""The fleet load-test harness: lean simulated devices, scenarios, measurements, reports."""
