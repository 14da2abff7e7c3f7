"""Marketing automation: rules that react to the shop's events (abandoned carts, store visits, orders) with
messages, personal coupons, tags and audiences, respecting consent, quiet hours, caps and support holds."""
