"""Pure pieces: the action grammar, typed answers, the renderer, form encoding, URL policy, the state verifier."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from verigym.envs.web import answers, dom, grammar, render
from verigym.envs.web.client import form_encode
from verigym.envs.web.task import PurchaseGoal, RequiredInsert, RequiredUpdate, WebTask
from verigym.envs.web.urls import NavigationRefused, resolve
from verigym.envs.web.verifier import verify


@pytest.mark.parametrize("text, name, args", [
    ('click("12")', "click", (12,)),
    ("click(12)", "click", (12,)),
    ('<think>the cart is [3]</think>\nI will open it.\nclick("3")', "click", (3,)),
    ('```python\nfill("4", "a, b) c")\n```', "fill", (4, "a, b) c")),
    ("select_option('9', 'XL')", "select_option", (9, "XL")),
    ('goto("/orders?page=2")', "goto", ("/orders?page=2",)),
    ("go_back()", "go_back", ()),
    ("scroll(0, -200.5)", "scroll", (0, -200.5)),
    ('send_msg_to_user("It was $12.50")', "send_msg_to_user", ("It was $12.50",)),
])
def test_grammar_reads_browsergym_calls(text: str, name: str, args: tuple) -> None:
    action = grammar.parse(text)
    assert (action.name, action.args) == (name, args)
    assert grammar.parse(str(action)) == action


@pytest.mark.parametrize("text", ["", "click", "click()", 'fill("1")', "goto(1)", "click(True)", "x = click('1')",
                                  "scroll('a', 1)", 'send_msg_to_user(f"{x}")', "a" * 20_001, None])
def test_grammar_refuses_anything_else(text: object) -> None:
    with pytest.raises(grammar.ActionSyntaxError):
        grammar.parse(text)


def test_typed_answers() -> None:
    assert answers.parse_money("The total was $1,234.5.") == Decimal("1234.50")
    assert answers.parse_money("USD 45") == Decimal("45.00")
    assert answers.parse_money("$45.00 or $50.00") is None
    assert answers.parse_number("There are seven.") == 7
    assert answers.parse_number("3 or 4") is None and answers.parse_number("none") is None
    assert answers.parse_date("It was March 5th, 2024") == dt.date(2024, 3, 5)
    assert answers.parse_date("5 Mar 2024") == answers.parse_date("2024-03-05") == dt.date(2024, 3, 5)
    assert answers.parse_date("2024-03-05 or 2024-03-06") is None and answers.parse_date("2024-02-30") is None
    assert answers.parse_names("Ana1, ben2 and  Cleo3.") == {"ana1", "ben2", "cleo3"}
    assert answers.answer_matches("names", "Élise", ("elise",))
    assert not answers.answer_matches("names", "ana1, ben2", ("ana1",))  # a superset is wrong
    assert not answers.answer_matches("money", "12.5 dollars, maybe 13", ("12.50",))
    with pytest.raises(ValueError, match="unknown answer type"):
        answers.answer_matches("colour", "red", ("red",))


PAGE = """<!DOCTYPE html><html><head><title>T &amp; co</title></head><body><nav><a href="/">Home</a> <span>Hi</span></nav>
<main><h1>Title</h1><p>Some <b>bold</b> text</p><table><tbody><tr><td>a</td><td><a href="/x?q=a+b">X</a></td></tr></tbody></table>
<form method="post" action="/f"><input type="hidden" name="csrf" value="t"><label for="s">Street</label>
<input type="text" id="s" name="street" value="1 Elm"><input type="password" name="password" value="abc">
<select name="size" aria-label="Size"><option>S</option><option value="m" selected>M</option></select>
<input type="checkbox" name="c" value="1" checked><textarea name="body">
hello</textarea><button type="submit" disabled>Go</button></form></main></body></html>"""


def test_renderer_numbers_interactive_elements() -> None:
    page = render.render(dom.parse(PAGE), "http://127.0.0.1:5000/x?q=a+b")
    assert page.text.splitlines() == [
        "URL: /x?q=a b", "Title: T & co", 'nav: [1] link "Home" (/) Hi', "# Title", "Some bold text",
        'a | [2] link "X" (/x?q=a b)',
        '[3] textbox "Street" value="1 Elm" [4] textbox "password" value="•••" [5] combobox "Size" selected="M" '
        'options="S", "M" [6] checkbox "c" checked [7] textbox "body" value="hello" [8] button "Go" disabled',
    ]
    assert [e.role for e in page.elements] == ["link", "link", "textbox", "textbox", "combobox", "checkbox", "textbox", "button"]
    assert page.element(5).option_values == ("S", "m") and page.element(9) is None


def test_form_encoding_matches_browsers() -> None:
    assert form_encode([("q", "a b~*-._/é"), ("x", "")]) == "q=a+b%7E*-._%2F%C3%A9&x="


def test_url_policy() -> None:
    origin = "http://127.0.0.1:4321"
    assert resolve("/orders?page=2#top", origin + "/", origin) == origin + "/orders?page=2"
    assert resolve("b", origin + "/a/", origin) == origin + "/a/b"
    for url in ("http://127.0.0.1:4322/", "http://localhost:4321/", "ftp://127.0.0.1:4321/", "//x.test/",
                "http://u:p@127.0.0.1:4321/", "/\\x.test", "", "view-source:http://127.0.0.1:4321/"):
        with pytest.raises(NavigationRefused):
            resolve(url, origin + "/", origin)


def _task(**fields) -> WebTask:
    return WebTask(task_id="t", seed=0, site="shop", kind="k", intent="", username="u", password="p", user_id=1, **fields)


def test_verifier_state_goals_and_unrelated_changes() -> None:
    before = {"users": {1: {"name": "a", "city": "X"}, 2: {"name": "b", "city": "Y"}}, "posts": {}}
    task = _task(updates=(RequiredUpdate("users", 1, "city", "Porto"),),
                 inserts=(RequiredInsert("posts", (("author", 1), ("body", "hi  there"))),))
    good = {"users": {1: {"name": "a", "city": "Porto"}, 2: before["users"][2]}, "posts": {5: {"author": 1, "body": "hi there"}}}
    assert verify(task, before, good, "done").components == {"success": 1.0, "partial": 1.0}
    half = {**good, "posts": {}}
    assert verify(task, before, half, "done").components == {"success": 0.0, "partial": 0.5}
    broken = {**good, "users": {**good["users"], 2: {"name": "b", "city": "Z"}}}
    assert verify(task, before, broken, "done").components == {"success": 0.0, "partial": 0.0}
    twice = {**good, "posts": {5: good["posts"][5], 6: good["posts"][5]}}
    assert verify(task, before, twice, "done").components["success"] == 0.0
    assert verify(task, before, good, "done", violation="left").components == {"success": 0.0, "partial": 0.0}


def test_verifier_webshop_partial_credit() -> None:
    before = {"products": {1: {"category": "shirts"}, 2: {"category": "shirts"}, 3: {"category": "mugs"}},
              "product_attributes": {1: {"product_id": 1, "attribute": "cotton"}, 2: {"product_id": 1, "attribute": "slim fit"},
                                     3: {"product_id": 2, "attribute": "cotton"}},
              "orders": {}, "order_items": {}}
    goal = PurchaseGoal("shirts", ("cotton", "slim fit"), (("size", "M"), ("color", "navy")), 3000, (1,))
    task = _task(purchase=goal)

    def bought(pid: int, size: str = "M", color: str = "navy", price: int = 2500, qty: int = 1, user: int = 1,
               status: str = "placed") -> dict:
        return {**before, "orders": {9: {"user_id": user, "status": status}},
                "order_items": {4: {"order_id": 9, "product_id": pid, "size": size, "color": color, "price_cents": price, "qty": qty}}}

    assert verify(task, before, bought(1), "ok").components == {"success": 1.0, "partial": 1.0}
    assert verify(task, before, bought(2), "ok").components == {"success": 0.0, "partial": 0.8}  # 4 of 5
    assert verify(task, before, bought(1, color="red", price=3500), "ok").components["partial"] == 0.6
    assert verify(task, before, bought(3), "ok").components["partial"] == 0.0  # wrong type gates everything
    assert verify(task, before, bought(1, qty=2), "ok").components == {"success": 0.0, "partial": 1.0}
    assert verify(task, before, bought(1, user=2), "ok").components["partial"] == 0.0
    assert verify(task, before, bought(1, status="cancelled"), "ok").components["partial"] == 0.0  # bought, then undone
    assert verify(task, before, before, "ok").components["partial"] == 0.0
