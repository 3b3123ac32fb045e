"""The shop site of `web-shop-v0`: catalogue, search, cart, checkout, accounts, orders, reviews."""
