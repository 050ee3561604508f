"""HTTP plumbing both services share: errors, body limits, health, metrics, logs."""
