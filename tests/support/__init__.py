"""What the tests share: builders, fakes, stores of both kinds, oracles and strategies."""
