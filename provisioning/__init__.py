"""haochaping provisioning: what a field technician runs to turn a blank box into an evaluator."""
