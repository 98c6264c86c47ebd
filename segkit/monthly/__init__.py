"""The monthly loop: activity over time (retention, repurchase, cohorts, churn); history and migration come later."""
