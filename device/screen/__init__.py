"""Drawing the evaluator's pages with pygame: layout, widgets, fonts and every text shown."""
