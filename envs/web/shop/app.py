"""The shop web application (WSGI, server-rendered HTML over SQLite)."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from verigym.envs.web.framework import (App, HTTPError, Request, Response, document, esc, money, pager,
                                        post_button, select, table, textbox)
from verigym.envs.web.shop.data import CATEGORIES, TODAY

PAGE_SIZE = 10


class ShopApp(App):
    """Catalogue, search with filters, cart, checkout, orders, account address, reviews, an admin area."""

    site_name = "Shop"

    def __init__(self, db_path: str) -> None:
        super().__init__(db_path)
        self.route("GET", "/", self.home)
        self.route("GET", "/search", self.search)
        self.route("GET", r"/product/(?P<pid>\d+)", self.product)
        self.route("POST", r"/product/(?P<pid>\d+)/review", self.review, login=True)
        self.route("GET", "/cart", self.cart, login=True)
        self.route("POST", "/cart/add", self.cart_add, login=True)
        self.route("POST", "/cart/remove", self.cart_remove, login=True)
        self.route("GET", "/checkout", self.checkout_page, login=True)
        self.route("POST", "/checkout", self.checkout, login=True)
        self.route("GET", "/orders", self.orders, login=True)
        self.route("GET", r"/orders/(?P<oid>\d+)", self.order, login=True)
        self.route("POST", r"/orders/(?P<oid>\d+)/cancel", self.cancel, login=True)
        self.route("GET", "/account", self.account, login=True)
        self.route("POST", "/account/address", self.save_address, login=True)
        self.route("GET", "/admin", self.admin, role="admin")
        self.route("GET", "/admin/debug", self.debug, role="admin")
        self.route("POST", r"/admin/orders/(?P<oid>\d+)/status", self.set_status, role="admin")

    def layout(self, request: Request, title: str, body: str) -> str:
        links = ['<a href="/">Home</a>', '<a href="/search">Search</a>']
        if request.user is not None:
            count = self.db.execute("SELECT COUNT(*) FROM cart_items WHERE user_id = ?", (request.user["id"],)).fetchone()[0]
            links += [f'<a href="/cart">Cart ({count})</a>', '<a href="/orders">My orders</a>', '<a href="/account">Account</a>',
                      f"<span>Signed in as {esc(request.user['username'])}</span>",
                      post_button(request.csrf, "/logout", "Log out")]
        else:
            links.append('<a href="/login">Log in</a>')
        return document(f"{title} - Shop", " ".join(links), body)

    def page(self, request: Request, title: str, body: str) -> Response:
        return Response(self.layout(request, title, body))

    # --- catalogue ---------------------------------------------------------------------------------
    def _search_form(self, q: str = "", category: str = "", max_price: str = "") -> str:
        cats = [("", "All categories")] + [(c, c) for c in CATEGORIES]
        return ('<form method="get" action="/search" autocomplete="off"><p>' + textbox("q", "Search products", q)
                + " " + select("category", "Category", cats, category) + " " + textbox("max_price", "Max price ($)", max_price)
                + ' <button type="submit">Search</button></p></form>')

    def home(self, request: Request) -> Response:
        cats = "".join(f'<li><a href="/search?category={esc(c)}">{esc(c.capitalize())}</a></li>' for c in CATEGORIES)
        return self.page(request, "Home", f"<h1>Welcome to the shop</h1>{self._search_form()}<h2>Categories</h2><ul>{cats}</ul>")

    def search(self, request: Request) -> Response:
        q, category, max_price = request.arg("q"), request.arg("category"), request.arg("max_price")
        sql, args = "SELECT * FROM products WHERE 1 = 1", []
        if category:
            sql += " AND category = ?"
            args.append(category)
        if max_price:
            try:
                bound = int(Decimal(max_price.lstrip("$").replace(",", "")) * 100)
            except InvalidOperation:
                return self.page(request, "Search", self._search_form(q, category, max_price) + "<p>Max price must be a number.</p>")
            sql += " AND price_cents <= ?"
            args.append(bound)
        rows = self.db.execute(sql + " ORDER BY id", args).fetchall()
        words = q.casefold().split()
        if words:
            rows = [r for r in rows if all(w in self._haystack(r) for w in words)]
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        page = min(request.int_arg("page"), pages)
        shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        body = self._search_form(q, category, max_price) + f"<h1>{len(rows)} results</h1>"
        if shown:
            body += table(["Product", "Category", "Price"], [
                [f'<a href="/product/{r["id"]}">{esc(r["name"])}</a>', esc(r["category"]), money(r["price_cents"])] for r in shown])
        body += pager("/search", page, pages, {"q": q, "category": category, "max_price": max_price})
        return self.page(request, "Search", body)

    def _haystack(self, row: object) -> str:
        attrs = [a[0] for a in self.db.execute("SELECT attribute FROM product_attributes WHERE product_id = ?", (row["id"],))]  # type: ignore[index]
        return " ".join([row["name"], row["category"], row["description"], *attrs]).casefold()  # type: ignore[index]

    def _product(self, pid: str) -> object:
        row = self.db.execute("SELECT * FROM products WHERE id = ?", (int(pid),)).fetchone()
        if row is None:
            raise HTTPError(404, f"There is no product {pid}.")
        return row

    def _options(self, pid: int, kind: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT value FROM product_options WHERE product_id = ? AND kind = ? ORDER BY id", (pid, kind))]

    def product(self, request: Request) -> Response:
        p = self._product(request.params["pid"])
        pid = p["id"]  # type: ignore[index]
        attrs = [a[0] for a in self.db.execute("SELECT attribute FROM product_attributes WHERE product_id = ? ORDER BY id", (pid,))]
        sizes, colors = self._options(pid, "size"), self._options(pid, "color")
        body = (f"<h1>{esc(p['name'])}</h1><p>Price: {money(p['price_cents'])}</p><p>Category: {esc(p['category'])}</p>"  # type: ignore[index]
                f"<p>{esc(p['description'])}</p><h2>Features</h2><ul>" + "".join(f"<li>{esc(a)}</li>" for a in attrs) + "</ul>")  # type: ignore[index]
        if request.user is not None:
            form = f'<form method="post" action="/cart/add" autocomplete="off">{self.csrf_input(request)}'
            form += f'<input type="hidden" name="product_id" value="{pid}"><p>'
            if sizes:
                form += select("size", "Size", [(s, s) for s in sizes]) + " "
            form += select("color", "Color", [(c, c) for c in colors]) + " " + textbox("qty", "Quantity", "1")
            body += form + ' <button type="submit">Add to cart</button></p></form>'
        else:
            body += '<p><a href="/login">Log in to buy</a></p>'
        reviews = self.db.execute("SELECT r.*, u.username FROM reviews r JOIN users u ON u.id = r.user_id "
                                  "WHERE product_id = ? ORDER BY r.id", (pid,)).fetchall()
        body += f"<h2>Reviews ({len(reviews)})</h2>"
        body += "<ul>" + "".join(f"<li>{r['stars']} stars by {esc(r['username'])} on {r['created_on']}: {esc(r['body'])}</li>"
                                 for r in reviews) + "</ul>"
        if request.user is not None:
            body += (f'<h2>Write a review</h2><form method="post" action="/product/{pid}/review" autocomplete="off">'
                     f"{self.csrf_input(request)}<p>" + select("stars", "Stars", [(str(s), str(s)) for s in range(5, 0, -1)])
                     + ' <label for="body">Review</label> <textarea id="body" name="body"></textarea>'
                     + ' <button type="submit">Post review</button></p></form>')
        return self.page(request, str(p["name"]), body)  # type: ignore[index]

    def review(self, request: Request) -> Response:
        p = self._product(request.params["pid"])
        stars, text = request.field("stars"), " ".join(request.field("body").split())
        if stars not in {"1", "2", "3", "4", "5"} or not text or len(text) > 1000:
            raise HTTPError(400, "A review needs 1-5 stars and a text of at most 1000 characters.")
        self.db.execute("INSERT INTO reviews (product_id, user_id, stars, body, created_on) VALUES (?, ?, ?, ?, ?)",
                        (p["id"], request.user["id"], int(stars), text, TODAY))  # type: ignore[index]
        return Response(status=303, location=f"/product/{p['id']}")  # type: ignore[index]

    # --- cart and checkout -------------------------------------------------------------------------
    def cart_add(self, request: Request) -> Response:
        p = self._product(request.field("product_id") or "0")
        pid = p["id"]  # type: ignore[index]
        size, color, qty = request.field("size"), request.field("color"), request.field("qty") or "1"
        sizes = self._options(pid, "size")
        if (sizes and size not in sizes) or (not sizes and size) or color not in self._options(pid, "color"):
            raise HTTPError(400, "Pick one of the listed sizes and colours.")
        if not qty.isdigit() or not 1 <= int(qty) <= 10:
            raise HTTPError(400, "Quantity must be a whole number from 1 to 10.")
        self.db.execute("INSERT INTO cart_items (user_id, product_id, qty, size, color) VALUES (?, ?, ?, ?, ?)",
                        (request.user["id"], pid, int(qty), size, color))  # type: ignore[index]
        return Response(status=303, location="/cart")

    def _cart(self, request: Request) -> list:
        return self.db.execute("SELECT c.*, p.name, p.price_cents FROM cart_items c JOIN products p ON p.id = c.product_id "
                               "WHERE c.user_id = ? ORDER BY c.id", (request.user["id"],)).fetchall()  # type: ignore[index]

    def cart(self, request: Request) -> Response:
        items = self._cart(request)
        if not items:
            return self.page(request, "Cart", "<h1>Your cart</h1><p>Your cart is empty.</p>")
        rows = [[esc(i["name"]), esc(i["size"] or "-"), esc(i["color"]), str(i["qty"]), money(i["qty"] * i["price_cents"]),
                 post_button(request.csrf, "/cart/remove", f"Remove {i['name']}", {"item_id": str(i["id"])})] for i in items]
        total = sum(i["qty"] * i["price_cents"] for i in items)
        body = ("<h1>Your cart</h1>" + table(["Product", "Size", "Color", "Qty", "Subtotal", ""], rows)
                + f'<p>Total: {money(total)}</p><p><a href="/checkout">Checkout</a></p>')
        return self.page(request, "Cart", body)

    def cart_remove(self, request: Request) -> Response:
        self.db.execute("DELETE FROM cart_items WHERE id = ? AND user_id = ?", (request.field("item_id"), request.user["id"]))  # type: ignore[index]
        return Response(status=303, location="/cart")

    def _address(self, request: Request) -> object:
        return self.db.execute("SELECT * FROM addresses WHERE user_id = ?", (request.user["id"],)).fetchone()  # type: ignore[index]

    def checkout_page(self, request: Request) -> Response:
        items = self._cart(request)
        if not items:
            return self.page(request, "Checkout", "<h1>Checkout</h1><p>Your cart is empty.</p>")
        a = self._address(request)
        total = sum(i["qty"] * i["price_cents"] for i in items)
        body = (f"<h1>Checkout</h1><p>{len(items)} item(s), total {money(total)}</p>"
                f"<p>Ship to: {esc(a['street'])}, {esc(a['city'])} {esc(a['zip'])}</p>"  # type: ignore[index]
                + post_button(request.csrf, "/checkout", "Place order"))
        return self.page(request, "Checkout", body)

    def checkout(self, request: Request) -> Response:
        items = self._cart(request)
        if not items:
            raise HTTPError(400, "Your cart is empty.")
        a = self._address(request)
        total = sum(i["qty"] * i["price_cents"] for i in items)
        cur = self.db.execute("INSERT INTO orders (user_id, status, placed_on, total_cents, ship_street, ship_city, ship_zip) "
                              "VALUES (?, 'placed', ?, ?, ?, ?, ?)",
                              (request.user["id"], TODAY, total, a["street"], a["city"], a["zip"]))  # type: ignore[index]
        for i in items:
            self.db.execute("INSERT INTO order_items (order_id, product_id, qty, size, color, price_cents) VALUES (?, ?, ?, ?, ?, ?)",
                            (cur.lastrowid, i["product_id"], i["qty"], i["size"], i["color"], i["price_cents"]))
        self.db.execute("DELETE FROM cart_items WHERE user_id = ?", (request.user["id"],))  # type: ignore[index]
        return Response(status=303, location=f"/orders/{cur.lastrowid}")

    # --- orders and account ------------------------------------------------------------------------
    def orders(self, request: Request) -> Response:
        rows = self.db.execute("SELECT * FROM orders WHERE user_id = ? ORDER BY placed_on DESC, id DESC",
                               (request.user["id"],)).fetchall()  # type: ignore[index]
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        page = min(request.int_arg("page"), pages)
        shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        body = "<h1>My orders</h1>" + table(["Order", "Placed on", "Status", "Total"], [
            [f'<a href="/orders/{o["id"]}">Order #{o["id"]}</a>', o["placed_on"], o["status"], money(o["total_cents"])] for o in shown])
        return self.page(request, "My orders", body + pager("/orders", page, pages))

    def _own_order(self, request: Request) -> object:
        row = self.db.execute("SELECT * FROM orders WHERE id = ? AND user_id = ?",
                              (int(request.params["oid"]), request.user["id"])).fetchone()  # type: ignore[index]
        if row is None:
            raise HTTPError(404, f"You have no order #{request.params['oid']}.")
        return row

    def order(self, request: Request) -> Response:
        o = self._own_order(request)
        items = self.db.execute("SELECT i.*, p.name FROM order_items i JOIN products p ON p.id = i.product_id "
                                "WHERE order_id = ? ORDER BY i.id", (o["id"],)).fetchall()  # type: ignore[index]
        body = (f"<h1>Order #{o['id']}</h1><p>Placed on: {o['placed_on']}</p><p>Status: {o['status']}</p>"  # type: ignore[index]
                + table(["Product", "Size", "Color", "Qty", "Price"], [
                    [f'<a href="/product/{i["product_id"]}">{esc(i["name"])}</a>', esc(i["size"] or "-"), esc(i["color"]),
                     str(i["qty"]), money(i["price_cents"])] for i in items])
                + f"<p>Order total: {money(o['total_cents'])}</p>"  # type: ignore[index]
                + f"<p>Shipped to: {esc(o['ship_street'])}, {esc(o['ship_city'])} {esc(o['ship_zip'])}</p>")  # type: ignore[index]
        if o["status"] == "placed":  # type: ignore[index]
            body += post_button(request.csrf, f"/orders/{o['id']}/cancel", f"Cancel order #{o['id']}")  # type: ignore[index]
        return self.page(request, f"Order #{o['id']}", body)  # type: ignore[index]

    def cancel(self, request: Request) -> Response:
        o = self._own_order(request)
        if o["status"] != "placed":  # type: ignore[index]
            raise HTTPError(409, f"Order #{o['id']} is {o['status']} and can no longer be cancelled.")  # type: ignore[index]
        self.db.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (o["id"],))  # type: ignore[index]
        return Response(status=303, location=f"/orders/{o['id']}")  # type: ignore[index]

    def account(self, request: Request) -> Response:
        a = self._address(request)
        note = "<p>Address saved.</p>" if request.arg("saved") == "1" else ""
        body = (f"<h1>Account</h1><p>Name: {esc(request.user['full_name'])}</p>{note}<h2>Shipping address</h2>"  # type: ignore[index]
                f'<form method="post" action="/account/address" autocomplete="off">{self.csrf_input(request)}'
                f"<p>{textbox('street', 'Street', a['street'])}</p><p>{textbox('city', 'City', a['city'])}</p>"  # type: ignore[index]
                f"<p>{textbox('zip', 'Postcode', a['zip'])}</p>"  # type: ignore[index]
                '<p><button type="submit">Save address</button></p></form>')
        return self.page(request, "Account", body)

    def save_address(self, request: Request) -> Response:
        street, city, zipcode = request.field("street"), request.field("city"), request.field("zip")
        if not (street and city and zipcode) or max(map(len, (street, city, zipcode))) > 100:
            raise HTTPError(400, "Street, city and postcode are required (at most 100 characters each).")
        self.db.execute("UPDATE addresses SET street = ?, city = ?, zip = ? WHERE user_id = ?",
                        (street, city, zipcode, request.user["id"]))  # type: ignore[index]
        return Response(status=303, location="/account?saved=1")

    # --- admin -------------------------------------------------------------------------------------
    def admin(self, request: Request) -> Response:
        rows = self.db.execute("SELECT * FROM orders ORDER BY id DESC LIMIT 20").fetchall()
        body = "<h1>Admin</h1>" + table(["Order", "User", "Status"], [
            [str(o["id"]), str(o["user_id"]), o["status"]] for o in rows]) + '<p><a href="/admin/debug">Debug</a></p>'
        return self.page(request, "Admin", body)

    def debug(self, request: Request) -> Response:
        users = self.db.execute("SELECT id, username, role FROM users").fetchall()
        return self.page(request, "Debug", "<h1>Debug</h1>" + table(["id", "username", "role"],
                                                                     [[str(u[0]), esc(u[1]), esc(u[2])] for u in users]))

    def set_status(self, request: Request) -> Response:
        status = request.field("status")
        if status not in ("placed", "shipped", "delivered", "cancelled"):
            raise HTTPError(400, "Unknown status.")
        self.db.execute("UPDATE orders SET status = ? WHERE id = ?", (status, int(request.params["oid"])))
        return Response(status=303, location="/admin")
