"""haochaping sync: carries signed ratings from the device ledger to the provincial system."""
