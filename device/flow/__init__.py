"""The evaluator's pure logic: the rating state machine, what the screen shows, which keys light."""
