"""The task templates of `code-python-v0`: parameterised function-writing problems.

Each template draws its parameters from a seeded RNG and returns a `Problem`: the function's name and
signature, a plain-language spec, a reference solution (module source), an input generator, edge cases, and
an off-by-one / wrong-comparison mutant of the reference (used to check that the hidden tests catch it).
`scale` (1 easy, 2 medium, 3 hard) sets input sizes.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Args = list[Any]


@dataclass(frozen=True)
class Problem:
    """One instantiated template (see the module docstring)."""

    entry: str
    signature: str
    spec: str
    reference: str
    mutant: str
    gen: Callable[[random.Random, int], Args]
    edges: tuple[Args, ...] = ()
    numeric_ok: bool = False
    params: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Template:
    """A named, categorised problem family; `level` 1..3 places it in the difficulty settings."""

    name: str
    category: str
    level: int
    build: Callable[[random.Random], Problem]


def _mutate(source: str, old: str, new: str) -> str:
    if source.count(old) != 1:
        raise AssertionError(f"mutant pattern {old!r} must occur exactly once in {source!r}")
    return source.replace(old, new)


def _word(rng: random.Random, alphabet: str, lo: int, hi: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _ints(rng: random.Random, n: int, lo: int, hi: int) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


LETTERS = string.ascii_lowercase
TEXT = string.ascii_letters + string.digits + " .,!?-"

# --- string processing ----------------------------------------------------------------------------------


def caesar(rng: random.Random) -> Problem:
    k = rng.randint(1, 25)
    backwards = rng.random() < 0.3
    direction = rng.choice(["forward", "backward"])
    digits = rng.random() < 0.5
    sign = "+" if direction == "forward" else "-"
    src = (
        "def shift_text(s: str) -> str:\n"
        "    out = []\n"
        "    for c in s:\n"
        "        if 'a' <= c <= 'z':\n"
        f"            out.append(chr((ord(c) - 97 {sign} {k}) % 26 + 97))\n"
        "        elif 'A' <= c <= 'Z':\n"
        f"            out.append(chr((ord(c) - 65 {sign} {k}) % 26 + 65))\n"
        + (f"        elif '0' <= c <= '9':\n            out.append(chr((ord(c) - 48 {sign} {k}) % 10 + 48))\n" if digits else "")
        + "        else:\n"
        "            out.append(c)\n"
        f"    return ''.join(out){'[::-1]' if backwards else ''}\n"
    )
    spec = (f"Shift every ASCII letter {k} places {direction} in the alphabet, wrapping around and keeping its case"
            + (f"; shift every digit {k} places {direction} among 0-9, wrapping around" if digits else "")
            + ". Every other character stays as it is."
            + (" Return the result reversed (last character first)." if backwards else ""))
    return Problem("shift_text", "def shift_text(s: str) -> str", spec, src,
                   _mutate(src, f"% 26 + 97", "% 25 + 97"),
                   lambda r, sc: [_word(r, TEXT, 0, 12 * sc)], ([""], ["xyz XYZ 789"], ["abc"], ["Hello, World!"]),
                   params=(k, direction, digits, backwards))


def count_chars(rng: random.Random) -> Problem:
    chars = "".join(sorted(rng.sample(LETTERS, rng.randint(3, 7))))
    fold = rng.random() < 0.5
    test = "c.lower() in CHARS" if fold else "c in CHARS"
    src = f"CHARS = {chars!r}\n\ndef count_marked(s: str) -> int:\n    return sum(1 for c in s if {test})\n"
    spec = (f"Return how many characters of `s` are one of the letters {', '.join(chars)}"
            + (" (upper-case versions count too)." if fold else " (lower-case only; upper-case versions do not count)."))
    return Problem("count_marked", "def count_marked(s: str) -> int", spec, src,
                   _mutate(src, "for c in s if", "for c in s[1:] if"),
                   lambda r, sc: [r.choice(chars) + _word(r, chars + chars.upper() + "xyz ", 0, 10 * sc)],
                   ([""], [chars], [chars.upper()], [chars[0] * 3]), params=(chars, fold))


def run_length(rng: random.Random) -> Problem:
    count_first = rng.random() < 0.5
    sep = rng.choice(["", "-", ",", " ", ";"])
    min_run = rng.choice([1, 2])
    piece = "str(n) + c" if count_first else "c + str(n)"
    src = (
        "def encode_runs(s: str) -> str:\n"
        "    parts = []\n"
        "    i = 0\n"
        "    while i < len(s):\n"
        "        j = i\n"
        "        while j < len(s) and s[j] == s[i]:\n"
        "            j += 1\n"
        "        c, n = s[i], j - i\n"
        f"        parts.append({piece} if n >= {min_run} else c)\n"
        "        i = j\n"
        f"    return {sep!r}.join(parts)\n"
    )
    rule = "every run" if min_run == 1 else "every run of 2 or more (a single character is written alone)"
    spec = (f"Run-length encode `s`: split it into maximal runs of one repeated character and write {rule} as "
            + ("the run length followed by the character" if count_first else "the character followed by the run length")
            + (f", joining the pieces with {sep!r}." if sep else ", with nothing between the pieces."))
    return Problem("encode_runs", "def encode_runs(s: str) -> str", spec, src,
                   _mutate(src, "c, n = s[i], j - i", "c, n = s[i], j - i + 1"),
                   lambda r, sc: ["".join(r.choice("abc") * r.randint(1, 4) for _ in range(r.randint(1, 4 * sc)))],
                   ([""], ["a"], ["aaab"], ["abba"]), params=(count_first, sep, min_run))


def word_filter(rng: random.Random) -> Problem:
    k = rng.randint(2, 9)
    op, words = rng.choice([(">=", "at least"), (">", "more than"), ("<=", "at most"), ("<", "fewer than")])
    sep = rng.choice([" ", ",", "|", "+"])
    case = rng.choice(["", ".upper()", ".lower()", ".title()"])
    how = {"": "", ".upper()": " upper-cased", ".lower()": " lower-cased", ".title()": " in title case (str.title)"}[case]
    src = (f"def keep_words(text: str) -> str:\n"
           f"    return {sep!r}.join(w{case} for w in text.split() if len(w) {op} {k})\n")
    spec = (f"Split `text` on whitespace and keep, in order, the words with {words} {k} characters; "
            f"return them{how} joined by {sep!r} (an empty string when none is kept).")
    flipped = {">=": ">", ">": ">=", "<=": "<", "<": "<="}[op]
    return Problem("keep_words", "def keep_words(text: str) -> str", spec, src,
                   _mutate(src, f"len(w) {op} {k}", f"len(w) {flipped} {k}"),
                   lambda r, sc: [" ".join(_word(r, LETTERS, k - 1, k + 1) for _ in range(r.randint(2, 5 * sc)))],
                   ([""], ["a" * k], ["a" * (k - 1) + " " + "b" * (k + 1)], ["x" * k + " " + "y" * k]),
                   params=(k, op, sep, case))


def palindrome(rng: random.Random) -> Problem:
    ignored = "".join(c for c in " .,!?-'" if rng.random() < 0.5)
    fold = rng.random() < 0.5
    src = (f"def is_mirror(s: str) -> bool:\n"
           f"    t = [c{'.lower()' if fold else ''} for c in s if c not in {ignored!r}]\n"
           f"    return t == t[::-1]\n")
    spec = ("Return True when `s` reads the same forwards and backwards"
            + (f" after removing every character in {ignored!r}" if ignored else "")
            + ("; upper and lower case count as the same letter" if fold else "; case matters")
            + ", else False.")
    return Problem("is_mirror", "def is_mirror(s: str) -> bool", spec, src,
                   _mutate(src, "t == t[::-1]", "t[1:] == t[1:][::-1]"),
                   lambda r, sc: [(lambda h: h + r.choice(["", "a", "Q"]) + h[::-1])(_word(r, "abAB" + ignored, 0, 4 * sc))
                                  if r.random() < 0.5 else _word(r, "abAB" + ignored, 0, 6 * sc)],
                   ([""], ["ab"], ["aB"], ["xab"], ["abba"], ["Aa"], ["a b,a"]), params=(ignored, fold))


def every_kth(rng: random.Random) -> Problem:
    k = rng.randint(2, 30)
    mark = rng.choice("*#@$%&_~^=")
    src = (f"def mask_every(s: str) -> str:\n"
           f"    return ''.join({mark!r} if (i + 1) % {k} == 0 else c for i, c in enumerate(s))\n")
    spec = (f"Replace every {k}th character of `s` (the {k}th, {2 * k}th, ... counting from 1) by {mark!r}; "
            "return the result.")
    return Problem("mask_every", "def mask_every(s: str) -> str", spec, src,
                   _mutate(src, f"(i + 1) % {k}", f"i % {k}"),
                   lambda r, sc: [_word(r, LETTERS, k - 1, 4 * k * sc)], ([""], ["a" * k], ["a" * (k - 1)]),
                   params=(k, mark))


# --- lists and arrays -----------------------------------------------------------------------------------


def window_sum(rng: random.Random) -> Problem:
    k = rng.randint(2, 60)
    best = rng.choice(["max", "min"])
    src = (f"def best_window(xs: list[int]) -> int | None:\n"
           f"    if len(xs) < {k}:\n"
           f"        return None\n"
           f"    return {best}(sum(xs[i:i + {k}]) for i in range(len(xs) - {k} + 1))\n")
    word = "largest" if best == "max" else "smallest"
    spec = (f"Return the {word} sum of {k} consecutive elements of `xs`, or None when `xs` has fewer than {k} "
            "elements.")
    return Problem("best_window", "def best_window(xs: list[int]) -> int | None", spec, src,
                   _mutate(src, f"len(xs) - {k} + 1", f"len(xs) - {k}"),
                   lambda r, sc: [_ints(r, r.randint(k, k + 10 * sc), -50, 50)],
                   ([[]], [[1] * (k - 1)], [[1] * k], [list(range(k + 1))], [list(range(k + 1, 0, -1))]),
                   params=(k, best))


def rotate(rng: random.Random) -> Problem:
    k = rng.randint(1, 200)
    left = rng.random() < 0.5
    body = f"xs[{k} % len(xs):] + xs[:{k} % len(xs)]" if left else f"xs[-({k} % len(xs)):] + xs[:-({k} % len(xs))] if {k} % len(xs) else list(xs)"
    src = (f"def rotate(xs: list[int]) -> list[int]:\n"
           f"    if not xs:\n"
           f"        return []\n"
           f"    return {body}\n")
    spec = f"Return a new list: `xs` rotated {k} places to the {'left' if left else 'right'} (an empty list stays empty)."
    mutant = _mutate(src, f"xs[{k} % len(xs):]", f"xs[{k + 1} % len(xs):]") if left else _mutate(src, f"xs[-({k} % len(xs)):]", f"xs[-({k + 1} % len(xs)):]")
    return Problem("rotate", "def rotate(xs: list[int]) -> list[int]", spec, src, mutant,
                   lambda r, sc: [_ints(r, r.randint(1, 8 * sc), 0, 99)],
                   ([[]], [[7]], [list(range(k))], [list(range(k + 2))], [list(range(2 * k + 3))]), params=(k, left))


def pair_count(rng: random.Random) -> Problem:
    op = rng.choice(["==", "<", "<=", ">", ">="])
    m = rng.randint(1, 20)
    term = "xs[i] + xs[j]" if m == 1 else f"xs[i] + {m} * xs[j]"
    src = (f"def count_pairs(xs: list[int], t: int) -> int:\n"
           f"    n = len(xs)\n"
           f"    return sum(1 for i in range(n) for j in range(i + 1, n) if {term} {op} t)\n")
    spec = (f"Count the index pairs i < j with `{term} {op} t`.")
    return Problem("count_pairs", "def count_pairs(xs: list[int], t: int) -> int", spec, src,
                   _mutate(src, "range(i + 1, n)", "range(i, n)"),
                   lambda r, sc: [_ints(r, r.randint(2, 10 * sc), -10, 10), r.randint(-10, 10)],
                   ([[], 0], [[1], 1 + m], [[0, 0, 0], 0], [[2, 2], 2 + 2 * m]), params=(op, m))


def clamped_prefix(rng: random.Random) -> Problem:
    lo, hi = rng.randint(-50, 0), rng.randint(1, 50)
    src = (f"def clamped_totals(xs: list[int]) -> list[int]:\n"
           f"    out, total = [], 0\n"
           f"    for x in xs:\n"
           f"        total = min({hi}, max({lo}, total + x))\n"
           f"        out.append(total)\n"
           f"    return out\n")
    spec = (f"Keep a running total starting at 0; after adding each element of `xs`, clamp the total into "
            f"[{lo}, {hi}] (below {lo} becomes {lo}, above {hi} becomes {hi}). Return the list of totals after each step.")
    return Problem("clamped_totals", "def clamped_totals(xs: list[int]) -> list[int]", spec, src,
                   _mutate(src, f"max({lo}, total + x)", f"max({lo + 1}, total + x)"),
                   lambda r, sc: [_ints(r, r.randint(1, 8 * sc), -30, 30)],
                   ([[]], [[-1000]], [[1000]], [[lo - 5, 1]]), params=(lo, hi))


def chunks(rng: random.Random) -> Problem:
    k = rng.randint(1, 40)
    keep = rng.random() < 0.5
    stop = "len(xs)" if keep else f"len(xs) - len(xs) % {k}"
    src = (f"def chunk(xs: list[int]) -> list[list[int]]:\n"
           f"    return [xs[i:i + {k}] for i in range(0, {stop}, {k})]\n")
    spec = (f"Split `xs` into consecutive chunks of {k} elements, in order"
            + ("; the last chunk may be shorter." if keep else "; drop a last chunk that would be shorter than that."))
    mutant = _mutate(src, f"xs[i:i + {k}]", f"xs[i:i + {k + 1}]")
    return Problem("chunk", "def chunk(xs: list[int]) -> list[list[int]]", spec, src, mutant,
                   lambda r, sc: [_ints(r, r.randint(1, 3 * k * sc), 0, 99)],
                   ([[]], [list(range(k))], [list(range(k + 1))], [list(range(2 * k + 1))]), params=(k, keep))


def kth_distinct(rng: random.Random) -> Problem:
    k = rng.randint(1, 5)
    largest = rng.random() < 0.5
    floor = rng.randint(-10, 10)
    src = (f"def kth_distinct(xs: list[int]) -> int | None:\n"
           f"    values = sorted({{x for x in xs if x >= {floor}}}, reverse={largest})\n"
           f"    return values[{k - 1}] if len(values) >= {k} else None\n")
    nth = {1: "1st", 2: "2nd", 3: "3rd"}.get(k, f"{k}th")
    spec = (f"Among the values of `xs` that are >= {floor}, return the {nth} {'largest' if largest else 'smallest'} "
            f"distinct one (equal values count once), or None when there are fewer than {k} such distinct values.")
    return Problem("kth_distinct", "def kth_distinct(xs: list[int]) -> int | None", spec, src,
                   _mutate(src, f"len(values) >= {k}", f"len(values) > {k}"),
                   lambda r, sc: [_ints(r, r.randint(k, k + 6 * sc), floor - 5, floor + 20)],
                   ([[]], [list(range(floor, floor + k))], [[floor + 5] * (k + 2)], [list(range(floor + k, floor, -1)) * 2]),
                   params=(k, largest, floor))


def merge_intervals(rng: random.Random) -> Problem:
    touching = rng.random() < 0.5
    min_len = rng.randint(0, 50)
    cmp = "<=" if touching else "<"
    src = (f"def merge(spans: list[list[int]]) -> list[list[int]]:\n"
           f"    out = []\n"
           f"    for a, b in sorted(spans):\n"
           f"        if out and a {cmp} out[-1][1]:\n"
           f"            out[-1][1] = max(out[-1][1], b)\n"
           f"        else:\n"
           f"            out.append([a, b])\n"
           f"    return [s for s in out if s[1] - s[0] >= {min_len}]\n")
    spec = ("`spans` is a list of [start, end] pairs with start <= end. Merge spans that overlap"
            + (" or touch (one ends where the next starts)" if touching else " (sharing only an endpoint is not overlapping)")
            + f", sort the result by start, and keep only merged spans with end - start >= {min_len}.")
    other = "<" if touching else "<="
    return Problem("merge", "def merge(spans: list[list[int]]) -> list[list[int]]", spec, src,
                   _mutate(src, f"a {cmp} out[-1][1]", f"a {other} out[-1][1]"),
                   lambda r, sc: [[(lambda a, w: [a, a + w])(r.randint(0, 30), r.randint(0, 25))
                                   for _ in range(r.randint(2, 4 * sc))]],
                   ([[]], [[[0, min_len + 1], [min_len + 1, 2 * min_len + 3]]], [[[0, min_len]]], [[[5, 5 + min_len], [0, 2]]]),
                   params=(touching, min_len))


# --- arithmetic and number theory -----------------------------------------------------------------------


def digit_power_sum(rng: random.Random) -> Problem:
    base = rng.randint(2, 16)
    p = rng.randint(1, 5)
    src = (f"def digit_score(n: int) -> int:\n"
           f"    total = 0\n"
           f"    while n > 0:\n"
           f"        total += (n % {base}) ** {p}\n"
           f"        n //= {base}\n"
           f"    return total\n")
    what = "digits" if p == 1 else f"{p}th powers of the digits"
    spec = f"For a non-negative integer `n`, return the sum of the {what} of `n` written in base {base} (0 for n = 0)."
    return Problem("digit_score", "def digit_score(n: int) -> int", spec, src,
                   _mutate(src, "while n > 0", f"while n > {base - 1}"),
                   lambda r, sc: [r.randint(0, 10 ** (3 * sc))], ([0], [1], [base - 1], [base], [base ** 3 + 1]),
                   params=(base, p))


def divisible_count(rng: random.Random) -> Problem:
    a, b = rng.sample(range(2, 31), 2)
    both = rng.random() < 0.3
    cond = f"x % {a} == 0 and x % {b} == 0" if both else f"x % {a} == 0 or x % {b} == 0"
    src = (f"def count_multiples(lo: int, hi: int) -> int:\n"
           f"    return sum(1 for x in range(lo, hi + 1) if {cond})\n")
    spec = (f"Count the integers x with lo <= x <= hi that are divisible by {a} {'and' if both else 'or'} by {b} "
            "(0 when lo > hi).")
    lcm = a * b
    return Problem("count_multiples", "def count_multiples(lo: int, hi: int) -> int", spec, src,
                   _mutate(src, "range(lo, hi + 1)", "range(lo, hi)"),
                   lambda r, sc: (lambda lo: [lo, lo + r.randint(0, 60 * sc)])(r.randint(-100, 100)),
                   ([a, a], [b, b], [lcm, lcm], [0, lcm], [5, 4], [-lcm, 0]), params=(a, b, both))


PRIMES = [p for p in range(7, 1000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


def power_sum_mod(rng: random.Random) -> Problem:
    p = rng.randint(1, 5)
    m = rng.choice(PRIMES)
    src = (f"def power_sum(n: int) -> int:\n"
           f"    return sum(pow(i, {p}, {m}) for i in range(1, n + 1)) % {m}\n")
    spec = f"Return (1^{p} + 2^{p} + ... + n^{p}) mod {m} for an integer n >= 0 (0 for n = 0)."
    return Problem("power_sum", "def power_sum(n: int) -> int", spec, src,
                   _mutate(src, "range(1, n + 1)", "range(1, n)"),
                   lambda r, sc: [r.randint(1, 200 * sc)], ([0], [1], [2], [m], [m + 1]), params=(p, m))


def coprime_count(rng: random.Random) -> Problem:
    m = rng.randint(2, 200)
    src = (f"from math import gcd\n\n\ndef count_coprime(xs: list[int]) -> int:\n"
           f"    return sum(1 for x in xs if gcd(x, {m}) == 1)\n")
    spec = f"Count the elements x of `xs` (non-negative integers) that share no factor greater than 1 with {m}."
    return Problem("count_coprime", "def count_coprime(xs: list[int]) -> int", spec, src,
                   _mutate(src, f"gcd(x, {m}) == 1", f"gcd(x + 1, {m}) == 1"),
                   lambda r, sc: [_ints(r, r.randint(3, 10 * sc), 0, 3 * m) + [2 * m, m]],
                   ([[]], [[1]], [[m]], [[0]], [[2, 4, 6, m * 2]]), params=(m,))


def prime_pairs(rng: random.Random) -> Problem:
    gap = rng.choice(range(2, 102, 2))
    src = (f"def _prime(n: int) -> bool:\n"
           f"    if n < 2:\n"
           f"        return False\n"
           f"    d = 2\n"
           f"    while d * d <= n:\n"
           f"        if n % d == 0:\n"
           f"            return False\n"
           f"        d += 1\n"
           f"    return True\n\n\n"
           f"def prime_pairs(lo: int, hi: int) -> int:\n"
           f"    return sum(1 for p in range(lo, hi + 1) if _prime(p) and _prime(p + {gap}))\n")
    spec = f"Count the primes p with lo <= p <= hi such that p + {gap} is also prime."
    return Problem("prime_pairs", "def prime_pairs(lo: int, hi: int) -> int", spec, src,
                   _mutate(src, "while d * d <= n", "while d * d < n"),
                   lambda r, sc: (lambda lo: [lo, lo + r.randint(20, 200 * sc)])(r.randint(0, 300)),
                   ([0, 1], [2, 2], [0, 50], [-5, 3], [23 - gap if gap < 23 else 0, 60], [0, 200]), params=(gap,))


def make_change(rng: random.Random) -> Problem:
    coins = sorted({1, *rng.sample(range(2, 51), rng.randint(2, 4))})
    src = (f"COINS = {coins!r}\n\n\ndef fewest_coins(amount: int) -> int:\n"
           f"    best = [0] + [amount + 1] * amount\n"
           f"    for a in range(1, amount + 1):\n"
           f"        best[a] = min(best[a - c] for c in COINS if c <= a) + 1\n"
           f"    return best[amount]\n")
    spec = (f"With unlimited coins of values {coins}, return the fewest coins whose values add up to exactly "
            "`amount` (amount >= 0; 0 coins for 0).")
    return Problem("fewest_coins", "def fewest_coins(amount: int) -> int", spec, src,
                   _mutate(src, "if c <= a", "if c < a"),
                   lambda r, sc: [r.randint(0, 60 * sc)], ([0], [1], *([c] for c in coins[1:]), [coins[-1] * 2]),
                   params=tuple(coins))


# --- small data structures and algorithms ---------------------------------------------------------------


def brackets(rng: random.Random) -> Problem:
    pairs = [p for p in ("()", "[]", "{}", "<>") if rng.random() < 0.6] or ["()"]
    strict = rng.random() < 0.5
    depth = rng.choice([0, 0, 0, 1, 2, 3, 4, 5, 6])
    opening = "".join(p[0] for p in pairs)
    closing = {p[1]: p[0] for p in pairs}
    other = "        else:\n            return False\n" if strict else ""
    src = (f"def balanced(s: str) -> bool:\n"
           f"    stack = []\n"
           f"    closing = {closing!r}\n"
           f"    for c in s:\n"
           f"        if c in {opening!r}:\n"
           f"            stack.append(c)\n"
           + (f"            if len(stack) > {depth}:\n                return False\n" if depth else "") +
           f"        elif c in closing:\n"
           f"            if not stack or stack.pop() != closing[c]:\n"
           f"                return False\n"
           + other +
           f"    return len(stack) == 0\n")
    spec = (f"Return True when the brackets {' '.join(pairs)} in `s` are balanced and properly nested"
            + ("; any other character makes the answer False" if strict else "; other characters are ignored")
            + (f"; nesting deeper than {depth} levels makes the answer False." if depth else "."))
    chars = "".join(pairs) + "x"
    return Problem("balanced", "def balanced(s: str) -> bool", spec, src,
                   _mutate(src, "len(stack) == 0", "len(stack) <= 1"),
                   lambda r, sc: [_word(r, chars, 0, 8 * sc) if r.random() < 0.5 else
                                  "".join(p[0] * 2 + "x" + p[1] * 2 for p in r.sample(pairs, len(pairs)))],
                   ([""], [pairs[0][0]], [pairs[0]], [pairs[0] + "x"], [pairs[-1][1] + pairs[-1][0]],
                    [pairs[0][0] * 2 + pairs[0][1]]), params=(tuple(pairs), strict, depth))


def top_words(rng: random.Random) -> Problem:
    k = rng.randint(1, 20)
    min_len = rng.randint(1, 5)
    src = (f"def top_words(text: str) -> list[str]:\n"
           f"    counts = {{}}\n"
           f"    for w in text.lower().split():\n"
           f"        if len(w) >= {min_len}:\n"
           f"            counts[w] = counts.get(w, 0) + 1\n"
           f"    return sorted(counts, key=lambda w: (-counts[w], w))[:{k}]\n")
    spec = (f"Lower-case `text`, split it on whitespace and ignore words shorter than {min_len} characters. Return "
            f"the {k} most frequent remaining words (fewer if there are fewer), most frequent first, ties broken "
            "alphabetically.")
    vocab = [_word(rng, "abcd", max(1, min_len - 1), min_len + 2) for _ in range(12)]
    return Problem("top_words", "def top_words(text: str) -> list[str]", spec, src,
                   _mutate(src, f"len(w) >= {min_len}", f"len(w) > {min_len}"),
                   lambda r, sc: [" ".join(r.choice(vocab) for _ in range(r.randint(1, 12 * sc)))],
                   ([""], ["a" * min_len], [" ".join(["b" * min_len] * 2 + ["a" * (min_len + 1)] * 2)]),
                   params=(k, min_len))


def stack_machine(rng: random.Random) -> Problem:
    m = rng.randint(100, 1_000_000)
    src = (f"def run_ops(ops: list[str]) -> list[int]:\n"
           f"    stack = []\n"
           f"    for op in ops:\n"
           f"        if op.startswith('push '):\n"
           f"            stack.append(int(op[5:]) % {m})\n"
           f"        elif op == 'pop' and stack:\n"
           f"            stack.pop()\n"
           f"        elif op == 'add' and len(stack) >= 2:\n"
           f"            stack.append((stack.pop() + stack.pop()) % {m})\n"
           f"        elif op == 'mul' and len(stack) >= 2:\n"
           f"            stack.append((stack.pop() * stack.pop()) % {m})\n"
           f"        elif op == 'dup' and stack:\n"
           f"            stack.append(stack[-1])\n"
           f"    return stack\n")
    spec = (f"Run a stack machine on `ops` and return the final stack (bottom first). Ops: 'push N' pushes N mod {m}; "
            f"'pop' drops the top; 'add' / 'mul' pop two values and push their sum / product mod {m}; 'dup' pushes a "
            "copy of the top. An op that lacks the values it needs does nothing.")

    def gen(r: random.Random, sc: int) -> Args:
        ops = [f"push {r.randint(0, 2 * m)}" if r.random() < 0.45 else r.choice(["pop", "add", "mul", "dup"])
               for _ in range(r.randint(1, 10 * sc))]
        return [ops]

    return Problem("run_ops", "def run_ops(ops: list[str]) -> list[int]", spec, src,
                   _mutate(src, "len(stack) >= 2:\n            stack.append((stack.pop() + ", "len(stack) >= 1:\n            stack.append((stack.pop() + "),
                   gen, ([[]], [["add"]], [[f"push {m}", "push 1", "add"]], [["push 3", "add"]], [["push 2", "add", "push 1"]]),
                   params=(m,))


# --- parsing small formats ------------------------------------------------------------------------------


def parse_pairs(rng: random.Random) -> Problem:
    pair_sep = rng.choice([";", ",", "&", "|"])
    kv_sep = rng.choice(["=", ":"])
    as_int = rng.random() < 0.5
    value = "int(v)" if as_int else "v"
    src = (f"def parse_pairs(text: str) -> dict[str, {'int' if as_int else 'str'}]:\n"
           f"    out = {{}}\n"
           f"    for item in text.split({pair_sep!r}):\n"
           f"        if {kv_sep!r} in item:\n"
           f"            k, v = item.split({kv_sep!r}, 1)\n"
           f"            out[k.strip()] = {value}\n"
           f"    return out\n")
    spec = (f"`text` holds items separated by {pair_sep!r}; each item is KEY{kv_sep}VALUE (split at the first "
            f"{kv_sep!r}; items without one are skipped). Return a dict from the key, stripped of surrounding spaces, to "
            + ("the value as an int" if as_int else "the value as given")
            + "; a later item with the same key wins.")

    def gen(r: random.Random, sc: int) -> Args:
        items = [f"{r.choice(['a', 'b', 'cd', ' e'])}{kv_sep}{r.randint(-99, 99) if as_int else _word(r, 'xyz', 1, 3)}"
                 for _ in range(r.randint(1, 4 * sc))]
        return [pair_sep.join(items)]

    return Problem("parse_pairs", f"def parse_pairs(text: str) -> dict[str, {'int' if as_int else 'str'}]", spec, src,
                   _mutate(src, f"text.split({pair_sep!r})", f"text.split({pair_sep!r})[1:]"), gen,
                   ([""], [f"a{kv_sep}1"], [f"a{kv_sep}1{pair_sep}a{kv_sep}2"], [f"x{pair_sep} k {kv_sep}7"]),
                   params=(pair_sep, kv_sep, as_int))


def durations(rng: random.Random) -> Problem:
    unit = rng.choice([("s", 1, "seconds"), ("m", 60, "whole minutes"), ("h", 3600, "whole hours")])
    cap = rng.randint(40, 99)
    src = (f"import re\n\n\ndef total_time(text: str) -> int:\n"
           f"    seconds = 0\n"
           f"    for n, u in re.findall(r'(\\d+)([hms])', text):\n"
           f"        if int(n) <= {cap}:\n"
           f"            seconds += int(n) * {{'h': 3600, 'm': 60, 's': 1}}[u]\n"
           f"    return seconds // {unit[1]}\n")
    spec = ("`text` contains durations like '1h', '20m', '45s' (a number directly followed by h, m or s), "
            f"possibly several and mixed with other text. Ignore a duration whose number is above {cap}. Return "
            f"the total in {unit[2]} (rounded down).")
    return Problem("total_time", "def total_time(text: str) -> int", spec, src,
                   _mutate(src, f"if int(n) <= {cap}", f"if int(n) < {cap}"),
                   lambda r, sc: [" ".join(f"{r.randint(0, cap + 10)}{r.choice('hms')}" for _ in range(r.randint(1, 3 * sc)))
                                  + r.choice(["", " 5x", " and 59s"])],
                   ([f"{cap}s {cap}m {cap}h"], [f"{cap}h {cap + 1}m"], [""], ["59s"], ["1h"], [f"{unit[1] - 1}s"], ["1m 59s"]), params=(unit[0], cap))


def csv_sum(rng: random.Random) -> Problem:
    delim = rng.choice([",", ";", "|", "\t"])
    names = rng.sample(["id", "qty", "price", "age", "score", "rank", "year", "size", "cost", "weight", "height",
                        "count", "level", "stock", "votes", "points", "day", "month", "hits", "errors", "miles",
                        "units", "tax", "fee"], 3)
    target = rng.choice(names)
    src = (f"def column_total(text: str) -> int:\n"
           f"    lines = [l for l in text.splitlines() if l.strip()]\n"
           f"    if not lines:\n"
           f"        return 0\n"
           f"    col = lines[0].split({delim!r}).index({target!r})\n"
           f"    return sum(int(l.split({delim!r})[col]) for l in lines[1:])\n")
    spec = (f"`text` is a table: the first non-blank line is a header of column names separated by {delim!r}, every "
            f"other non-blank line holds integers separated the same way. Return the sum of the column named "
            f"{target!r} (0 for an empty text). The header always has that column.")

    def gen(r: random.Random, sc: int) -> Args:
        header = r.sample(names, 3)
        rows = [delim.join(str(r.randint(-50, 500)) for _ in header) for _ in range(r.randint(1, 5 * sc))]
        return ["\n".join([delim.join(header), *rows])]

    return Problem("column_total", "def column_total(text: str) -> int", spec, src,
                   _mutate(src, "lines[1:]", "lines[2:]"), gen,
                   ([""], [delim.join(names) + "\n" + delim.join(["1", "2", "3"])]), params=(delim, tuple(names), target))


def version_cmp(rng: random.Random) -> Problem:
    parts = rng.randint(2, 4)
    sep = rng.choice([".", "-", "_", ":"])
    src = (f"def compare_versions(a: str, b: str) -> int:\n"
           f"    x = [int(p) for p in a.split({sep!r})][:{parts}]\n"
           f"    y = [int(p) for p in b.split({sep!r})][:{parts}]\n"
           f"    x += [0] * ({parts} - len(x))\n"
           f"    y += [0] * ({parts} - len(y))\n"
           f"    return (x > y) - (x < y)\n")
    spec = (f"Compare two version strings (integers separated by {sep!r}) numerically by their first {parts} components (missing ones count "
            "as 0, later ones are ignored). Return 1 if a is newer, -1 if b is newer, else 0.")

    def ver(r: random.Random) -> str:
        return sep.join(str(r.randint(0, 12)) for _ in range(r.randint(1, parts + 1)))

    return Problem("compare_versions", "def compare_versions(a: str, b: str) -> int", spec, src,
                   _mutate(src, f"[:{parts}]\n    y", f"[:{parts - 1}]\n    y"),
                   lambda r, sc: [ver(r), ver(r)] if r.random() < 0.5 else (lambda v: [v, v.rsplit(sep, 1)[0] + sep + str(r.randint(0, 12))])(ver(r) + sep + "1"),
                   (["1", f"1{sep}0"], [f"1{sep}10", f"1{sep}9"], [sep.join(["1"] * parts), sep.join(["1"] * (parts - 1) + ["2"])],
                    [sep.join(["0"] * parts + ["5"]), "0"]), params=(parts, sep))


TEMPLATES: tuple[Template, ...] = (
    Template("caesar", "strings", 1, caesar),
    Template("count_chars", "strings", 1, count_chars),
    Template("run_length", "strings", 2, run_length),
    Template("word_filter", "strings", 1, word_filter),
    Template("palindrome", "strings", 1, palindrome),
    Template("every_kth", "strings", 1, every_kth),
    Template("window_sum", "lists", 2, window_sum),
    Template("rotate", "lists", 1, rotate),
    Template("pair_count", "lists", 2, pair_count),
    Template("clamped_prefix", "lists", 2, clamped_prefix),
    Template("chunks", "lists", 1, chunks),
    Template("kth_distinct", "lists", 2, kth_distinct),
    Template("merge_intervals", "algorithms", 3, merge_intervals),
    Template("digit_power_sum", "numbers", 1, digit_power_sum),
    Template("divisible_count", "numbers", 1, divisible_count),
    Template("power_sum_mod", "numbers", 2, power_sum_mod),
    Template("coprime_count", "numbers", 2, coprime_count),
    Template("prime_pairs", "numbers", 3, prime_pairs),
    Template("make_change", "algorithms", 3, make_change),
    Template("brackets", "algorithms", 2, brackets),
    Template("top_words", "algorithms", 3, top_words),
    Template("stack_machine", "algorithms", 3, stack_machine),
    Template("parse_pairs", "parsing", 2, parse_pairs),
    Template("durations", "parsing", 2, durations),
    Template("csv_sum", "parsing", 3, csv_sum),
    Template("version_cmp", "parsing", 3, version_cmp),
)
BY_NAME = {t.name: t for t in TEMPLATES}
