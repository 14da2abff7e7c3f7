"""Commerce: carts across channels, checkout, orders, fulfilment (ship, pickup, in store), returns, wholesale."""
